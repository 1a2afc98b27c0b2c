"""Bad input through the real ``train.py``: exactly one line on stderr and exit 1, no traceback,
for a bad value, an unknown key and Hydra's own composition errors alike; a traceback under
HYDRA_FULL_ERROR=1; and a sweep that keeps its finished jobs when one fails."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import run_train
from tests.test_validation import COMPOSITION_ROWS, ROWS


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ("lr=-1", "bad value lr=-1.0: must be a finite number > 0"),
        ("objective=cosine objective.k=0", dict(ROWS)["objective=cosine objective.k=0"]),  # its validate()
        ("scale=diagonal dim=3 entropy_weight=-1", dict(ROWS)["entropy_weight=-1"]),
        ("+estimater=score", dict(ROWS)["+estimater=score"]),
        (
            "family=bernoulli estimator=concrete +tau=2",
            dict(ROWS)["family=bernoulli estimator=concrete +tau=2"],
        ),
    ],
)
def test_real_run_exits_with_exactly_one_line(tmp_path: Path, overrides: str, line: str) -> None:
    result = run_train(*overrides.split(), cwd=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and result.stderr.splitlines() == [line]
    assert not list(tmp_path.glob("outputs/runs/*/*/events.out.tfevents.*"))


@pytest.mark.slow
def test_real_run_names_a_new_node_and_the_nearest_key(tmp_path: Path) -> None:
    result = run_train("+foo.bar=1", cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert re.fullmatch(r"unknown key foo\.bar: the nearest known key is [\w.]+", line)


@pytest.mark.slow
@pytest.mark.parametrize("overrides", ["lr=-1", "lr=abc"])
def test_hydra_full_error_shows_the_traceback(tmp_path: Path, overrides: str) -> None:
    full = run_train(overrides, cwd=tmp_path, env={**os.environ, "HYDRA_FULL_ERROR": "1"})
    assert full.returncode == 1 and "Traceback" in full.stderr
    assert ("ConfigError" if overrides == "lr=-1" else "ConfigCompositionException") in full.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        *[(o, line) for o, line in COMPOSITION_ROWS if o in ("estimator=nonsense", "lr=fast")],
        ("foo=1", "unknown key foo: the nearest known key is family"),
    ],
)
def test_real_run_composition_errors_are_one_line(tmp_path: Path, overrides: str, line: str) -> None:
    result = run_train(*overrides.split(), cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.splitlines() == [line]
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
