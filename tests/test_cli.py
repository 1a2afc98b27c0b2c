"""The command line: real ``python train.py`` runs in a subprocess, read back with tensorboard's
EventAccumulator; and, in-process, how every command answers bad input (``reparam_opt.training.cli``) and
what the config groups offer (each option on its schema, no schema as an option)."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from reparam_opt.objectives import OBJECTIVES
from reparam_opt.training import config
from reparam_opt.training.cli import LineParser, exit_with, one_line, run_app
from reparam_opt.training.known_keys import first_unknown_key
from reparam_opt.variance.config import register_variance_configs
from tests.conftest import ROOT, run_train, scalars

STEP_TAGS = {
    "theta/replicate0",
    "theta/diverged",
    "theta/mean",
    "theta/rms_error",
    "theta/q05",
    "theta/q95",
    "objective/mean",
    "grad/mean",
    "grad/exact",
    "grad/variance",
    "grad/variance_analytic",
    "loss/monte_carlo",
    "loss/monte_carlo_se",
}
METRIC_TAGS = {
    "metrics/steps_to_tolerance",
    "metrics/final_rms_error",
    "metrics/stationary_rms",
    "metrics/path_length_ratio",
    "metrics/diverged",
}


def check_run(run_dir: Path, steps: int, theta0: float) -> dict:
    series = scalars(run_dir)
    assert STEP_TAGS <= series.keys() <= STEP_TAGS | METRIC_TAGS
    for tag in STEP_TAGS:
        steps_logged = [s for s, _ in series[tag]]
        assert steps_logged == list(range(steps + 1)), tag
        assert all(math.isfinite(v) for _, v in series[tag]), tag
    assert series["theta/replicate0"][0] == (0, theta0)
    assert series["theta/mean"][0] == (0, theta0)
    assert series["theta/rms_error"][0][1] == pytest.approx(abs(theta0))
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    assert acc.Tags()["histograms"] == ["grad/per_sample_terms"]
    assert set(acc.PluginTagToContent("hparams")) == {
        "_hparams_/experiment",
        "_hparams_/session_start_info",
        "_hparams_/session_end_info",
    }
    assert list(acc.PluginTagToContent("custom_scalars")) == ["custom_scalars__config__"]
    assert [p.name for p in run_dir.iterdir() if p.is_dir()] == [".hydra"]  # hparams did not make a sub-run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    return summary


@pytest.mark.slow
def test_single_run_lands_in_outputs_runs(tmp_path: Path) -> None:
    result = run_train("estimator=pathwise", "steps=20", "theta0=2.5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["outputs"]  # nothing else in the current directory
    (run_dir,) = (tmp_path / "outputs" / "runs").glob("*/*")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}/\d{2}-\d{2}-\d{2}", f"{run_dir.parent.name}/{run_dir.name}")
    summary = check_run(run_dir, steps=20, theta0=2.5)
    final_line = result.stdout.strip().splitlines()[-1]
    assert final_line.startswith("status=completed ") and f"diverged={summary['diverged']}" in final_line


@pytest.mark.slow
def test_multirun_names_each_job_by_its_overrides(tmp_path: Path) -> None:
    result = run_train("-m", "estimator=score,pathwise,exact", "steps=15", "replicates=32", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (sweep_dir,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    jobs = sorted(p.name for p in sweep_dir.iterdir() if (p / ".hydra").is_dir())  # not the summary run
    assert jobs == [f"estimator={name},replicates=32,steps=15" for name in ("exact", "pathwise", "score")]
    for job in jobs:
        summary = check_run(sweep_dir / job, steps=15, theta0=3.0)
        assert (
            summary["config"]["estimator"]["_target_"] == "reparam_opt.estimators." + job[10:].split(",")[0]
        )
    assert len(re.findall(r"^status=", result.stdout, flags=re.M)) == 3


@pytest.mark.slow
def test_help_and_cfg_job(tmp_path: Path) -> None:
    help_text = run_train("--help", cwd=tmp_path)
    assert help_text.returncode == 0 and "estimator: concrete, exact, " in help_text.stdout
    assert "schema" not in help_text.stdout  # the groups list only what a user can pick
    job = run_train("--cfg", "job", "estimator=score", cwd=tmp_path)
    assert job.returncode == 0 and "reparam_opt.estimators.score" in job.stdout
    assert not list(tmp_path.iterdir())


def test_one_line_drops_omegaconf_location_lines() -> None:
    text = "Key 'foo' not in 'TrainConfig'\n    full_key: foo\n    object_type=TrainConfig\n\nmore"
    assert one_line(text) == "Key 'foo' not in 'TrainConfig' more"


def raises(error: Exception):
    """A stand-in for a ``@hydra.main`` function that fails."""

    def main() -> None:
        assert os.environ["HYDRA_FULL_ERROR"] == "1"  # so that Hydra raises instead of printing
        raise error

    return main


def test_run_app_ends_an_escaping_error_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as stop:
        run_app(raises(RuntimeError("no room\n    full_key: x")))
    assert stop.value.code == "error: RuntimeError: no room"  # a string: exit status 1, on stderr
    assert "HYDRA_FULL_ERROR" not in os.environ


def test_a_users_hydra_full_error_keeps_the_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(RuntimeError, match="no room"):
        run_app(raises(RuntimeError("no room")))
    assert os.environ["HYDRA_FULL_ERROR"] == "1"


def test_exit_with_ends_a_run_in_one_line_only_under_run_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    error = ValueError("bad value lr=-1.0: must be a finite number > 0")

    def main() -> None:
        exit_with(f"{error}\n    full_key: lr", error)

    with pytest.raises(SystemExit) as stop:
        run_app(main)
    assert stop.value.code == str(error)
    with pytest.raises(ValueError):  # outside run_app: Hydra reports it as it always does
        main()


def test_line_parser_refuses_in_one_line() -> None:
    parser = LineParser(prog="python -m app")
    parser.add_argument("--repeats", type=int)
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--repeats", "x"])
    assert stop.value.code == "python -m app: argument --repeats: invalid int value: 'x'"


def group_options(group: str) -> list[str]:
    return sorted(path.stem for path in (ROOT / "conf" / group).glob("*.yaml"))


#: The schema each option of each group extends (``- /<schema>@_here_`` in its defaults list).
SCHEMAS = {
    "estimator": {
        **{name: config.EstimatorConfig for name in group_options("estimator")},
        "concrete": config.RelaxedEstimatorConfig,
        "straight_through": config.RelaxedEstimatorConfig,
        "rebar": config.RebarEstimatorConfig,
        "relax": config.RelaxEstimatorConfig,
        "score_ema": config.MovingAverageEstimatorConfig,
        "trace_elbo": config.WholeObjectiveEstimatorConfig,
        "stl": config.WholeObjectiveEstimatorConfig,
    },
    "objective": {name: OBJECTIVES[name].schema for name in group_options("objective")},
    "optimizer": {"sgd": config.SGDConfig, "adam": config.AdamConfig},
    "family": {"gaussian": config.FamilyConfig, "bernoulli": config.FamilyConfig},
}


@pytest.mark.parametrize(("group", "name"), [(g, n) for g in SCHEMAS for n in group_options(g)])
def test_every_option_extends_its_schema_and_adds_no_unknown_key(make_cfg, group: str, name: str) -> None:
    cfg = make_cfg(f"{group}={name}")
    assert OmegaConf.get_type(cfg[group]) is SCHEMAS[group][name]
    assert first_unknown_key(cfg) is None


def test_no_group_offers_a_schema_as_an_option() -> None:
    """The schemas live at the ConfigStore's root: ``--help`` and "Available options" list only
    what a user can pick."""
    register_variance_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        groups = ["estimator", "objective", "optimizer", "family", "experiment", "arm", "scenario", "sweep"]
        options = {group: loader.get_group_options(group) for group in groups}
    for group, names in options.items():
        assert names == group_options(group), group
