"""The new objectives' optima and parameter checks, and training on every objective × new estimator."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from reparam_opt.objectives import Cosine, GaussianBump, Optimum, ShiftedSquare, Square
from reparam_opt.training import train
from tests.conftest import run_train, scalars

OBJECTIVES = ["square", "shifted_square", "gaussian_bump", "cosine"]


def test_optima() -> None:
    assert ShiftedSquare(1.5).optimum(3.0, 0.5) == Optimum(1.5, 0.25)
    assert Square().optimum(3.0, 1.0) == Optimum(0.0, 1.0)
    assert GaussianBump(1.0).optimum(3.0, 1.0) is None  # J → 0 as |θ| → ∞: no minimiser
    cosine = Cosine(3.0)
    for theta0, expected in [(3.0, math.pi), (1.0, math.pi / 3), (-0.5, -math.pi / 3), (2.2, math.pi)]:
        optimum = cosine.optimum(theta0, 1.0)
        assert optimum.theta == pytest.approx(expected)
        assert optimum.value == pytest.approx(-math.exp(-4.5))
        assert float(cosine.grad(torch.tensor(optimum.theta, dtype=torch.float64), 1.0)) == pytest.approx(
            0.0, abs=1e-12
        )
        assert float(cosine.curvature(torch.tensor(optimum.theta, dtype=torch.float64), 1.0)) > 0
    assert cosine.optimum(2 * math.pi / 3, 1.0) is None  # θ0 on a maximum: two minima equally near
    assert cosine.optimum(0.0, 1.0) is None


@pytest.mark.parametrize("theta0", [3.0, 2.2, -0.5])
def test_cosine_theta_star_is_where_the_exact_gradient_goes(make_cfg, tmp_path: Path, theta0: float) -> None:
    cfg = make_cfg(
        "estimator=exact",
        "objective=cosine",
        "objective.k=3",
        f"theta0={theta0}",
        "lr=0.5",
        "steps=400",
        "replicates=2",
        "log_every=400",
    )
    summary = train(cfg, tmp_path)
    assert summary["theta_star"] == pytest.approx(Cosine(3.0).optimum(theta0, 1.0).theta)
    assert summary["final_rms_error"] < 1e-5  # θ is float32: ten ulps at π
    assert summary["objective_star"] == pytest.approx(-math.exp(-4.5))


@pytest.mark.parametrize(
    "override,message",
    [
        (
            "objective=cosine objective.k=0",
            "objective.k=0.0 is not allowed for objective=cosine: k must be a finite number > 0",
        ),
        (
            "objective=gaussian_bump objective.k=-1",
            "objective.k=-1.0 is not allowed for objective=gaussian_bump",
        ),
        (
            "objective=shifted_square objective.k=inf",
            "objective.k=inf is not allowed for objective=shifted_square",
        ),
    ],
)
def test_parameter_domains(make_cfg, tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        train(make_cfg(*override.split(), "steps=2"), tmp_path)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("estimator", ["measure_valued", "score_baseline"])
def test_new_estimators_train_on_every_objective(
    make_cfg, tmp_path: Path, estimator: str, objective: str
) -> None:
    summary = train(
        make_cfg(f"estimator={estimator}", f"objective={objective}", "steps=30", "replicates=64"), tmp_path
    )
    assert summary["status"] == "completed" and summary["diverged"] == 0
    assert summary["f_evals_per_step"] == {"measure_valued": 2, "score_baseline": 1}[estimator] * 2
    series = scalars(tmp_path)
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    start = plugin_data_pb2.HParamsPluginData.FromString(
        acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    ).session_start_info
    assert start.hparams["f_evals_per_step"].number_value == summary["f_evals_per_step"]
    assert "grad/variance" in series
    has_closed_form = not (estimator == "measure_valued" and objective in ("gaussian_bump", "cosine"))
    assert ("grad/variance_analytic" in series) == has_closed_form
    if objective == "gaussian_bump":  # no θ*: nothing made up
        assert "theta/rms_error" not in series
        assert summary["theta_star"] is None
        assert summary["final_rms_error"] is None and summary["stationary_rms"] is None
        assert summary["steps_to_tolerance"] is None
    else:
        assert math.isfinite(summary["final_rms_error"])
        assert len(series["theta/rms_error"]) == 31


def test_score_baseline_rejects_one_sample(make_cfg, tmp_path: Path) -> None:
    # train() checks the config first (reparam_opt/validation.py), so the estimator is never called.
    with pytest.raises(ValueError, match="n_samples=1: must be an integer >= 2 for estimator=score_baseline"):
        train(make_cfg("estimator=score_baseline", "n_samples=1", "steps=2"), tmp_path)


@pytest.mark.slow
def test_cli_measure_valued_on_cosine(tmp_path: Path) -> None:
    result = run_train(
        "estimator=measure_valued", "objective=cosine", "objective.k=3", "steps=20", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "outputs" / "runs").glob("*/*")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["f_evals_per_step"] == 4 and summary["theta_star"] == pytest.approx(math.pi)
    assert summary["config"]["objective"]["k"] == 3.0
    assert result.stdout.strip().splitlines()[-1].startswith("status=completed ")
    bad = run_train("objective=gaussian_bump", "objective.k=-2", "steps=2", cwd=tmp_path)
    assert bad.returncode != 0 and "objective.k=-2.0 is not allowed for objective=gaussian_bump" in bad.stderr


def test_pair_table_lists_every_pair() -> None:
    from reparam_opt.pair_table import ESTIMATORS, objectives, table

    rows = [
        line
        for line in table(1.0, 1.0, 10, 2000, 0).splitlines()
        if line.startswith("| ") and "---" not in line
    ][1:]
    assert len(rows) == len(ESTIMATORS) * len(objectives())
    without = {tuple(cell.strip() for cell in row.split("|")[1:3]) for row in rows if "| none |" in row}
    assert without == {
        (name, "measure_valued") for name in objectives() if name.startswith(("gaussian_bump", "cosine"))
    }
