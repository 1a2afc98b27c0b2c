"""The line every run ends with: key=value pairs holding only values that exist, and where it wrote.

In-process from real runs' summaries (``train`` and ``write_failure``), and through the real command
for what a user copies from it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from reparam_opt.training import train
from reparam_opt.training.summary import METRIC_KEYS, NEVER, THETA_STAR_METRICS, one_line, write_failure
from tests.conftest import run_train


def parsed(line: str) -> dict[str, str]:
    """The line as a script reads it: shell words, each split at its first '='."""
    pairs = [word.partition("=") for word in shlex.split(line)]
    assert all(sep == "=" for _, sep, _ in pairs), line
    return {key: value for key, _, value in pairs}


def test_a_gaussian_run_shows_every_metric_as_its_summary_has_it(make_cfg, tmp_path: Path) -> None:
    summary = train(make_cfg("steps=60", "replicates=16"), tmp_path)
    assert summary["steps_to_tolerance"] is not None  # reached, so every metric has a number
    fields = parsed(one_line(summary, tmp_path))
    assert list(fields)[0] == "status" and list(fields)[-1] == "dir"
    for key in (*METRIC_KEYS, "wall_seconds"):
        assert float(fields[key]) == pytest.approx(summary[key], rel=1e-3), key


def test_a_tolerance_never_reached_reads_never(make_cfg, tmp_path: Path) -> None:
    summary = train(make_cfg("steps=3", "replicates=8"), tmp_path)
    assert summary["theta_star"] is not None and summary["steps_to_tolerance"] is None
    assert parsed(one_line(summary))["steps_to_tolerance"] == NEVER


def test_a_bernoulli_run_leaves_out_the_metrics_against_theta_star(make_cfg, tmp_path: Path) -> None:
    summary = train(make_cfg("family=bernoulli", "estimator=score", "steps=5", "replicates=8"), tmp_path)
    line = one_line(summary, tmp_path)
    fields = parsed(line)
    assert not set(THETA_STAR_METRICS) & set(fields) and "None" not in line
    assert float(fields["final_objective"]) == pytest.approx(summary["final_objective"], rel=1e-3)
    assert int(fields["diverged"]) == summary["diverged"]


def test_a_run_that_diverged_whole_shows_no_placeholder(make_cfg, tmp_path: Path) -> None:
    """Every replicate diverged: the statistics over live replicates have nothing to measure."""
    cfg = make_cfg("estimator=score", "lr=1", "n_samples=1", "steps=60", "replicates=8")
    summary = train(cfg, tmp_path)
    assert summary["status"] == "diverged" and summary["final_rms_error"] is None
    line = one_line(summary, tmp_path)
    fields = parsed(line)
    assert "None" not in line and "final_rms_error" not in fields
    assert fields["steps_to_tolerance"] == NEVER and int(fields["diverged"]) == cfg.replicates


def test_a_failed_run_shows_its_status_and_directory_only(make_cfg, tmp_path: Path) -> None:
    written = write_failure(tmp_path / "summary.json", make_cfg(), ValueError("bad"))
    unwritten = {"status": "failed", "error": "ValueError: bad (and summary.json could not be written)"}
    for summary in (written, unwritten):  # train.py's record_failure returns either
        assert set(parsed(one_line(summary, tmp_path))) == {"status", "dir"}


def test_the_directory_is_relative_below_the_cwd_and_absolute_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, elsewhere = tmp_path / "here", tmp_path / "else where"
    run_dir = here / "outputs" / "runs" / "2026-01-01" / "00-00-00"
    for path in (run_dir, elsewhere):
        path.mkdir(parents=True)
    monkeypatch.chdir(here)
    summary = {"status": "completed"}
    assert Path(parsed(one_line(summary, run_dir))["dir"]) == run_dir.relative_to(here)
    assert parsed(one_line(summary, here))["dir"] == "."
    assert Path(parsed(one_line(summary, elsewhere))["dir"]) == elsewhere  # quoted: it has a space


@pytest.mark.slow
def test_each_job_line_names_its_directory(tmp_path: Path) -> None:
    """Through the real command, a sweep with a finished and a failed job: each line's ``dir``,
    read from the cwd, holds that job's summary.json, and no line prints None."""
    result = run_train("-m", "family=bernoulli", "estimator=score", "steps=4,0", "replicates=4", cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]  # the failed job fails the sweep
    lines = [line for line in result.stdout.splitlines() if line.startswith("status=")]
    assert len(lines) == 2 and not any("None" in line for line in lines)
    for line in lines:
        fields = parsed(line)
        assert not Path(fields["dir"]).is_absolute()
        summary = json.loads((tmp_path / fields["dir"] / "summary.json").read_text())
        assert summary["status"] == fields["status"]
    assert {parsed(line)["status"] for line in lines} == {"completed", "failed"}
