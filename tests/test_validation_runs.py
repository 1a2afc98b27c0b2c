"""Bad input through the real ``train.py``: one line and exit 1, no traceback, Hydra's own short
message for composition errors, and a sweep that keeps its finished jobs when one fails."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_train
from tests.test_validation import ROWS


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ("sigma=-1", "bad value sigma=-1.0: must be a finite number > 0"),
        ("objective=cosine objective.k=0", dict(ROWS)["objective=cosine objective.k=0"]),  # its validate()
        ("scale=diagonal dim=3 entropy_weight=-1", dict(ROWS)["entropy_weight=-1"]),
    ],
)
def test_real_run_exits_non_zero_with_one_line_and_no_traceback(
    tmp_path: Path, overrides: str, line: str
) -> None:
    result = run_train(*overrides.split(), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert line in stderr_lines(result)
    assert not list(tmp_path.glob("outputs/runs/*/*/events.out.tfevents.*"))


@pytest.mark.slow
def test_hydra_full_error_shows_the_traceback(tmp_path: Path) -> None:
    full = run_train("sigma=-1", cwd=tmp_path, env={**os.environ, "HYDRA_FULL_ERROR": "1"})
    assert full.returncode == 1 and "Traceback" in full.stderr and "ConfigError" in full.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "steps=abc",
            [
                "Error merging override steps=abc",
                "Value 'abc' of type 'str' could not be converted to Integer",
            ],
        ),
        (
            "estimator=nonsense",
            ["In 'config': Could not find 'estimator/nonsense'", "Available options in 'estimator':"],
        ),
    ],
)
def test_real_run_composition_errors_are_hydras_short_message(
    tmp_path: Path, override: str, expected: list[str]
) -> None:
    result = run_train(override, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert stderr_lines(result)[: len(expected)] == expected
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_one_bad_job_in_a_multirun_keeps_the_finished_ones(tmp_path: Path) -> None:
    """The failed job is recorded, the others finish, the summary lists it, and the sweep exits 1."""
    result = run_train("-m", "steps=4,0,5", "replicates=8", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    logged = result.stdout + result.stderr  # Hydra's logging goes to stdout
    assert "job failed: bad value steps=0: must be an integer >= 1" in logged
    assert "1 sweep job(s) failed (replicates=8,steps=0)" in logged
    (sweep,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    for steps in (4, 5):
        summary = json.loads((sweep / f"replicates=8,steps={steps}" / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["step"] == steps
    failed = json.loads((sweep / "replicates=8,steps=0" / "summary.json").read_text())
    assert failed["status"] == "failed" and "bad value steps=0" in failed["error"]
    report = (sweep / "summary.md").read_text()
    assert "`replicates=8,steps=0`: status=failed: ConfigError: bad value steps=0" in report
