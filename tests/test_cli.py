"""Real ``python train.py`` runs in a subprocess, read back with tensorboard's EventAccumulator."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import run_train, scalars

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
}
METRIC_TAGS = {
    "metrics/steps_to_tolerance",
    "metrics/final_rms_error",
    "metrics/stationary_rms",
    "metrics/path_length_ratio",
    "metrics/diverged",
}

pytestmark = pytest.mark.slow


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


def test_single_run_lands_in_outputs_runs(tmp_path: Path) -> None:
    result = run_train("estimator=pathwise", "steps=20", "theta0=2.5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["outputs"]  # nothing else in the current directory
    (run_dir,) = (tmp_path / "outputs" / "runs").glob("*/*")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}/\d{2}-\d{2}-\d{2}", f"{run_dir.parent.name}/{run_dir.name}")
    summary = check_run(run_dir, steps=20, theta0=2.5)
    final_line = result.stdout.strip().splitlines()[-1]
    assert final_line.startswith("status=completed ") and f"diverged={summary['diverged']}" in final_line


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


def test_help_and_cfg_job(tmp_path: Path) -> None:
    help_text = run_train("--help", cwd=tmp_path)
    assert help_text.returncode == 0 and "estimator: " in help_text.stdout
    job = run_train("--cfg", "job", "estimator=score", cwd=tmp_path)
    assert job.returncode == 0 and "reparam_opt.estimators.score" in job.stdout
    assert not list(tmp_path.iterdir())
