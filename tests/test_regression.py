"""Runs today against fingerprints stored before the redesign (tests/reference/README.md): bit-identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reparam_opt.training import train
from tests.regression import DIVERGENCE_RUNS, EDGE_RUNS, ROOT, command, run_fingerprint, sweep_fingerprint

REFERENCE = Path(__file__).resolve().parent / "reference"


def stored(name: str) -> dict:
    return json.loads((REFERENCE / name).read_text())


def assert_same_run(run: dict, expected: dict, where: str) -> None:
    """Tag by tag, so that a failure names what moved."""
    for kind in ("scalars", "histograms"):
        moved = sorted(
            tag
            for tag in expected[kind].keys() | run[kind].keys()
            if run[kind].get(tag) != expected[kind].get(tag)
        )
        assert not moved, f"{where}: {kind} differ from the stored run: {moved}"
    assert run["summary"] == expected["summary"], where


def test_default_run_is_bit_identical(make_cfg, tmp_path: Path) -> None:
    train(make_cfg(), tmp_path)
    assert_same_run(run_fingerprint(tmp_path), stored("default_run.json"), "default run")


@pytest.mark.slow
def test_compare_preset_is_bit_identical(tmp_path: Path) -> None:
    command(str(ROOT / "train.py"), "-m", "+experiment=compare", f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)
    jobs, expected = sweep_fingerprint(tmp_path), stored("compare.json")
    assert sorted(jobs) == sorted(expected)
    for job, run in jobs.items():
        assert_same_run(run, expected[job], job)


@pytest.mark.slow
@pytest.mark.parametrize("name", EDGE_RUNS)
def test_runs_off_the_default_path_are_bit_identical(tmp_path: Path, name: str) -> None:
    command(str(ROOT / "train.py"), *EDGE_RUNS[name], f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert_same_run(run_fingerprint(tmp_path), stored("edges.json")[name], name)


@pytest.mark.slow
def test_variance_study_csv_is_identical(tmp_path: Path) -> None:
    command("-m", "reparam_opt.variance", f"hydra.run.dir={tmp_path}", cwd=ROOT)
    assert (tmp_path / "variance.csv").read_text() == (REFERENCE / "variance.csv").read_text()


@pytest.mark.slow
def test_pair_table_is_identical() -> None:
    assert (
        command("-m", "reparam_opt.pair_table", "--theta", "1", cwd=ROOT)
        == (REFERENCE / "pair_table_theta1.md").read_text()
    )


@pytest.mark.parametrize("name", DIVERGENCE_RUNS)
def test_divergence_between_host_reads_changes_no_number(make_cfg, tmp_path: Path, name: str) -> None:
    """The loop no longer reads the live count at every step; what it writes is what it wrote then."""
    train(make_cfg(*DIVERGENCE_RUNS[name]), tmp_path)
    assert_same_run(run_fingerprint(tmp_path), stored("divergence.json")[name], name)
