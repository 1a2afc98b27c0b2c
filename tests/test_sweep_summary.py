"""The end-of-sweep summary, from a real ``python train.py -m`` sweep; and the two presets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from reparam_opt.sweep_summary.report import write_report
from reparam_opt.training import train
from reparam_opt.training.summary import METRIC_KEYS
from tests.conftest import compose_with_hydra, run_train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two estimators × two seeds, 20 steps: the callback summarises it when the multirun ends."""
    cwd = tmp_path_factory.mktemp("sweep")
    result = run_train(
        "-m",
        "estimator=score,pathwise",
        "seed=0,1",
        "steps=20",
        "replicates=16",
        f"hydra.sweep.dir={cwd / 'sweep'}",
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return cwd / "sweep"


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path) as f:
        return {row["configuration"]: row for row in csv.DictReader(f)}


def job(sweep_dir: Path, estimator: str, seed: int) -> Path:
    """A job's directory, named by its overrides."""
    return sweep_dir / f"estimator={estimator},replicates=16,seed={seed},steps=20"


def job_summaries(sweep_dir: Path, estimator: str) -> list[dict]:
    return [json.loads((job(sweep_dir, estimator, seed) / "summary.json").read_text()) for seed in (0, 1)]


def test_callback_writes_the_summary_and_its_numbers_match_the_jobs(sweep_dir: Path) -> None:
    for name in ("summary.md", "summary.csv", "comparison.png"):
        assert (sweep_dir / name).stat().st_size > 0, name
    rows = read_csv(sweep_dir / "summary.csv")
    assert sorted(rows) == ["estimator=pathwise", "estimator=score"]
    for estimator in ("score", "pathwise"):
        row, jobs = rows[f"estimator={estimator}"], job_summaries(sweep_dir, estimator)
        assert (row["jobs"], row["failed"], row["seeds"]) == ("2", "0", "0 1")
        for key in ("final_rms_error", "stationary_rms", "path_length_ratio", "wall_seconds"):
            values = [job[key] for job in jobs]
            assert float(row[f"{key}_median"]) == pytest.approx(np.median(values), rel=1e-12), key
            assert float(row[f"{key}_min"]) == min(values) and float(row[f"{key}_max"]) == max(values)
        assert int(row["diverged_total"]) == sum(job["diverged"] for job in jobs)
        assert int(row["replicates_total"]) == 32
    text = (sweep_dir / "summary.md").read_text()
    assert "| estimator=score | 0 1 |" in text and "Failed jobs" not in text
    acc = EventAccumulator(str(sweep_dir / "summary"))
    acc.Reload()
    assert acc.Tags()["images"] == ["sweep/comparison"]


def test_failed_and_partial_jobs_are_listed_not_fatal(sweep_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "sweep"
    shutil.copytree(sweep_dir, copy)
    (job(copy, "score", 0) / "summary.json").unlink()
    partial = job(copy, "pathwise", 1) / "summary.json"
    partial.write_text(partial.read_text()[:40])
    stopped = job(copy, "pathwise", 0) / "summary.json"
    stopped.write_text(json.dumps({**json.loads(stopped.read_text()), "status": "interrupted"}))
    write_report(copy)
    rows = read_csv(copy / "summary.csv")
    score, kept = rows["estimator=score"], job_summaries(sweep_dir, "score")[1]
    assert (score["jobs"], score["failed"], score["seeds"]) == ("2", "1", "1")
    assert float(score["final_rms_error_median"]) == kept["final_rms_error"]
    pathwise = rows["estimator=pathwise"]
    assert (pathwise["failed"], pathwise["seeds"], pathwise["final_rms_error_median"]) == ("2", "", "")
    text = (copy / "summary.md").read_text()
    assert "## Failed jobs (3)" in text
    assert f"`{job(Path(), 'score', 0)}`: no summary.json" in text
    assert f"`{job(Path(), 'pathwise', 1)}`: unreadable summary.json" in text
    assert f"`{job(Path(), 'pathwise', 0)}`: status=interrupted" in text
    assert (copy / "comparison.png").stat().st_size > 0


def test_compare_preset_sweeps_every_estimator_sample_size_and_seed() -> None:
    cfg = compose_with_hydra("+experiment=compare")
    params = cfg.hydra.sweeper.params
    assert set(params.estimator.split(",")) == {"score", "pathwise", "exact"}
    assert len(params.n_samples.split(",")) >= 2 and min(int(n) for n in params.n_samples.split(",")) >= 2
    assert len(params.seed.split(",")) >= 2
    assert "sweep_summary" in cfg.hydra.callbacks


def test_unstable_preset_diverges_with_score_and_not_with_pathwise(make_cfg, tmp_path: Path) -> None:
    """docs/maths.md, "SGD on the square": η = 0.1, n = 1, θ0 = 3 makes score diverge and not pathwise."""
    runs = {
        name: train(make_cfg("+experiment=unstable", f"estimator={name}"), tmp_path / name)
        for name in ("score", "pathwise")
    }
    cfg = make_cfg("+experiment=unstable")
    assert (cfg.lr, cfg.n_samples, cfg.theta0) == (0.1, 1, 3.0)
    assert runs["score"]["diverged"] > 0
    assert runs["pathwise"]["diverged"] == 0
    assert set(METRIC_KEYS) <= runs["score"].keys()
