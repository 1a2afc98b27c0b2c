"""Real multiruns through the launcher and sweeper plugins: joblib, submitit_local, Optuna."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_train

pytestmark = pytest.mark.slow


def summaries(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/summary.json")}


def test_joblib_runs_jobs_in_parallel_with_threads_split(tmp_path: Path) -> None:
    result = run_train(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "seed=0,1",
        "steps=10",
        f"hydra.sweep.dir={tmp_path}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    jobs = summaries(tmp_path)
    assert sorted(jobs) == ["seed=0,steps=10", "seed=1,steps=10"]
    assert all(s["status"] == "completed" for s in jobs.values())
    assert {s["threads"] for s in jobs.values()} == {max(1, (os.cpu_count() or 1) // 2)}
    assert jobs["seed=0,steps=10"]["final_rms_error"] != jobs["seed=1,steps=10"]["final_rms_error"]


def test_submitit_local_multirun(tmp_path: Path) -> None:
    result = run_train(
        "-m",
        "hydra/launcher=submitit_local",
        "estimator=score,pathwise",
        "steps=10",
        f"hydra.sweep.dir={tmp_path}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    jobs = summaries(tmp_path)
    assert sorted(jobs) == ["estimator=pathwise,steps=10", "estimator=score,steps=10"]
    assert all(s["status"] == "completed" and s["step"] == 10 for s in jobs.values())


def test_tune_finds_the_trial_with_the_smallest_metric(tmp_path: Path) -> None:
    """``+experiment=tune``: Optuna's best value is the smallest stationary_rms its trials returned."""
    result = run_train(
        "-m",
        "+experiment=tune",
        "estimator=pathwise",
        "steps=20",
        "replicates=64",
        "hydra.sweeper.n_trials=4",
        f"hydra.sweep.dir={tmp_path}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    best = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    trials = summaries(tmp_path).values()
    assert len(trials) == 4
    assert best["best_value"] == pytest.approx(min(t["stationary_rms"] for t in trials))
    assert 0.002 <= best["best_params"]["lr"] <= 0.45


def test_the_slurm_watcher_reads_squeue_and_sees_a_job_that_left_the_queue() -> None:
    """Without accounting the launcher reads job states from squeue (tests/test_slurm.py runs it)."""
    from hydra_plugins.reparam_opt_slurm.slurm_launcher import queue_watcher

    watcher = queue_watcher()
    watcher.use_squeue = True
    for job in ("7_0", "7_1", "7_2", "8"):
        watcher.register_job(job)
    info = watcher.read_info("7_0|COMPLETED|vm\n7_1|CANCELLED|vm\n8|RUNNING|vm\n")
    assert {job: info[job]["State"] for job in info} == {
        "7_0": "COMPLETED",
        "7_1": "CANCELLED",
        "7_2": "GONE",  # squeue no longer lists it
        "8": "RUNNING",
    }
    assert watcher._make_command()[:2] == ["squeue", "--noheader"]
