"""The training loop, composed through Hydra's compose API and run in-process."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate

from reparam_opt.training import train
from tests.conftest import scalars

Z = 4.0


def test_composes_groups_and_top_level_lr(make_cfg) -> None:
    cfg = make_cfg("estimator=score", "optimizer=adam", "lr=0.2")
    assert cfg.estimator._target_ == "reparam_opt.estimators.score"
    optimizer = instantiate(cfg.optimizer)([torch.zeros(1, requires_grad=True)])
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.param_groups[0]["lr"] == 0.2


def test_defaults_are_sgd_without_momentum(make_cfg) -> None:
    cfg = make_cfg()
    optimizer = instantiate(cfg.optimizer)([torch.zeros(1, requires_grad=True)])
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.param_groups[0]["momentum"] == 0.0
    groups = {"estimator", "objective", "optimizer", "family", "draws", "control_variate"}
    top_level = set(cfg.keys()) - groups
    assert top_level == {
        "seed",
        "theta0",
        "sigma",
        "dim",
        "scale",
        "entropy_weight",
        "n_samples",
        "steps",
        "replicates",
        "lr",
        "lr_schedule",
        "log_every",
        "histogram_every",
        "tolerance",
        "variance_draws",
        "max_batch_elements",
        "compile",
        "device",
        "threads",
        "return_metric",
    }


def test_schema_rejects_wrong_types_and_unknown_options(make_cfg) -> None:
    with pytest.raises(ConfigCompositionException, match="steps=abc"):
        make_cfg("steps=abc")
    with pytest.raises(ConfigCompositionException):
        make_cfg("estimator=nonsense")


def test_exact_follows_the_mean_trajectory(make_cfg, tmp_path: Path) -> None:
    """docs/maths.md: E[θ_t] = (1 − 2η)^t θ0, which the exact gradient follows exactly."""
    cfg = make_cfg("estimator=exact", "steps=30", "replicates=4", "lr=0.05")
    train(cfg, tmp_path)
    mean = dict(scalars(tmp_path)["theta/mean"])
    for t in (0, 1, 10, 30):
        assert mean[t] == pytest.approx(0.9**t * 3.0, rel=1e-5)


@pytest.mark.parametrize("n", [1, 4])
def test_pathwise_stationary_mean_square_error(make_cfg, tmp_path: Path, n: int) -> None:
    """docs/maths.md: stationary E[θ²] = η / (n(1 − η)) for pathwise SGD; 0.053 at η = 0.05, n = 1."""
    lr, replicates = 0.05, 4000
    cfg = make_cfg(
        "estimator=pathwise",
        f"n_samples={n}",
        f"lr={lr}",
        "steps=150",
        f"replicates={replicates}",
        "log_every=150",
    )
    summary = train(cfg, tmp_path)
    expected = lr / (n * (1 - lr))
    # θ_T is Gaussian across replicates, so the mean of θ² has standard error √2·E[θ²]/√R.
    assert summary["final_rms_error"] ** 2 == pytest.approx(
        expected, abs=Z * math.sqrt(2 / replicates) * expected
    )


@pytest.mark.slow
def test_same_seed_is_bit_identical_and_another_seed_differs(make_cfg, tmp_path: Path) -> None:
    def trajectory(seed: int, where: str) -> list[float]:
        train(make_cfg("estimator=score", f"seed={seed}", "steps=40"), tmp_path / where)
        series = scalars(tmp_path / where)
        return [v for _, v in series["theta/replicate0"]] + [v for _, v in series["theta/mean"]]

    first, again, other = trajectory(0, "a"), trajectory(0, "b"), trajectory(1, "c")
    assert first == again
    assert first != other


def test_the_claim_holds_with_the_defaults(make_cfg, tmp_path: Path) -> None:
    """Pathwise beats score on every metric at the default settings; exact sets the floor."""
    runs = {
        name: train(make_cfg(f"estimator={name}"), tmp_path / name) for name in ("score", "pathwise", "exact")
    }
    score, path, exact = runs["score"], runs["pathwise"], runs["exact"]
    assert path["steps_to_tolerance"] is not None
    assert score["steps_to_tolerance"] is None or path["steps_to_tolerance"] < score["steps_to_tolerance"]
    assert exact["steps_to_tolerance"] <= path["steps_to_tolerance"]
    assert exact["stationary_rms"] < path["stationary_rms"] < score["stationary_rms"]
    assert exact["path_length_ratio"] == pytest.approx(1.0)
    assert path["path_length_ratio"] < score["path_length_ratio"]
    assert all(run["diverged"] == 0 and run["status"] == "completed" for run in runs.values())


def test_summary_json_holds_metrics_and_resolved_config(make_cfg, tmp_path: Path) -> None:
    train(make_cfg("steps=10", "lr=0.3"), tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {
        "steps_to_tolerance",
        "final_rms_error",
        "stationary_rms",
        "path_length_ratio",
        "diverged",
        "status",
        "wall_seconds",
    } <= summary.keys()
    assert summary["config"]["optimizer"]["lr"] == 0.3  # interpolation resolved
    assert not list(tmp_path.glob(".summary-*"))  # no temporary file left behind


def test_hparams_name_each_group_by_its_option_and_hide_targets(make_cfg, tmp_path: Path) -> None:
    """The HParams table reads `score`, `cosine`, `adam`; summary.json keeps the full config."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    summary = train(make_cfg("estimator=score", "objective=cosine", "optimizer=adam", "steps=3"), tmp_path)
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    start = plugin_data_pb2.HParamsPluginData.FromString(
        acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    ).session_start_info
    values = {
        key: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
        for key, value in start.hparams.items()
    }
    assert (values["estimator"], values["objective"], values["optimizer"]) == ("score", "cosine", "adam")
    assert values["objective.k"] == 1.0 and values["lr"] == 0.1 and values["n_samples"] == 2
    assert not [key for key in values if "_target_" in key or "_partial_" in key]
    assert "log_every" not in values  # null: no value to show
    assert summary["config"]["estimator"]["_target_"] == "reparam_opt.estimators.score"


def test_the_host_counts_the_live_replicates_only_at_histogram_steps(make_cfg, tmp_path, monkeypatch) -> None:
    """No host sync per step (issue 14): while none has diverged, the live count is read at the
    histogram steps (every 10th logged step) and at the end, not at each of the 201 steps."""
    from reparam_opt.training import recorder

    counted = []
    check = recorder.Survivors.check
    monkeypatch.setattr(recorder.Survivors, "check", lambda self: counted.append(1) or check(self))
    reads = []
    real_int = torch.Tensor.__int__
    monkeypatch.setattr(torch.Tensor, "__int__", lambda self: reads.append(1) or real_int(self))
    train(make_cfg("steps=200"), tmp_path)
    assert len(counted) == 21  # steps 0, 10, …, 200
    assert len(reads) <= len(counted) + 2
