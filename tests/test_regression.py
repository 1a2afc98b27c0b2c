"""Runs today against the numbers stored before the redesign (tests/reference/README.md).

Within the rounding another CPU's kernels may change (tests/fixture_tolerance.py), so that they hold
on any machine; with ``--bit-for-bit``, exactly, for a refactor checked on the machine that took them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from reparam_opt.training import train
from tests.fixture_tolerance import U, budget, csv_differences, run_differences, table_differences
from tests.regression import (
    DIVERGENCE_RUNS,
    EDGE_RUNS,
    ROOT,
    command,
    digest,
    histogram_rows,
    run_record,
    scalar_rows,
    sweep_record,
)

REFERENCE = Path(__file__).resolve().parent / "reference"

#: ``pair_table --theta 1``'s replicates × samples per mean, which sets its numbers' tolerance.
PAIR_TABLE_TERMS = 200_000 * 10


def stored(name: str) -> dict:
    return json.loads((REFERENCE / name).read_text())


def stored_runs() -> dict[str, dict]:
    return {
        "default": stored("default_run.json"),
        **{f"compare/{job}": run for job, run in stored("compare.json").items()},
        **{f"edges/{name}": run for name, run in stored("edges.json").items()},
        **{f"divergence/{name}": run for name, run in stored("divergence.json").items()},
    }


def assert_same_run(run: dict, expected: dict, where: str, exact: bool) -> None:
    differences = run_differences(run, expected, exact)
    assert not differences, f"{where}: {len(differences)} series differ; first: {differences[:3]}"


def test_default_run_matches(make_cfg, tmp_path: Path, bit_for_bit: bool) -> None:
    train(make_cfg(), tmp_path)
    assert_same_run(run_record(tmp_path), stored("default_run.json"), "default run", bit_for_bit)


@pytest.mark.slow
def test_compare_preset_matches(tmp_path: Path, bit_for_bit: bool) -> None:
    command(str(ROOT / "train.py"), "-m", "+experiment=compare", f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)
    jobs, expected = sweep_record(tmp_path), stored("compare.json")
    assert sorted(jobs) == sorted(expected)
    for job, run in jobs.items():
        assert_same_run(run, expected[job], job, bit_for_bit)


@pytest.mark.slow
@pytest.mark.parametrize("name", EDGE_RUNS)
def test_runs_off_the_default_path_match(tmp_path: Path, name: str, bit_for_bit: bool) -> None:
    command(str(ROOT / "train.py"), *EDGE_RUNS[name], f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert_same_run(run_record(tmp_path), stored("edges.json")[name], name, bit_for_bit)


@pytest.mark.slow
def test_variance_study_csv_matches(tmp_path: Path, bit_for_bit: bool) -> None:
    command("-m", "reparam_opt.variance", f"hydra.run.dir={tmp_path}", cwd=ROOT)
    found, expected = (tmp_path / "variance.csv").read_text(), (REFERENCE / "variance.csv").read_text()
    assert not csv_differences(found, expected, bit_for_bit)


@pytest.mark.slow
def test_pair_table_matches(bit_for_bit: bool) -> None:
    found = command("-m", "reparam_opt.pair_table", "--theta", "1", cwd=ROOT)
    expected = (REFERENCE / "pair_table_theta1.md").read_text()
    assert not table_differences(found, expected, PAIR_TABLE_TERMS, exact=bit_for_bit)


@pytest.mark.parametrize("name", DIVERGENCE_RUNS)
def test_divergence_between_host_reads_changes_no_number(
    make_cfg, tmp_path: Path, name: str, bit_for_bit: bool
) -> None:
    """The loop no longer reads the live count at every step; what it writes is what it wrote then."""
    train(make_cfg(*DIVERGENCE_RUNS[name]), tmp_path)
    assert_same_run(run_record(tmp_path), stored("divergence.json")[name], name, bit_for_bit)


def test_the_stored_numbers_are_the_ones_first_fingerprinted() -> None:
    """Each stored series still hashes to the SHA-256 the fixtures held when they were hashes only:
    storing the numbers changed none of them."""
    for where, run in stored_runs().items():
        for tag, series in run["scalars"].items():
            assert digest(scalar_rows(series)) == series["sha256"], (where, tag)
        for tag, series in run["histograms"].items():
            assert digest(histogram_rows(series)) == series["sha256"], (where, tag)


def perturbed(run: dict, tag: str, factor: float) -> dict:
    """``run`` with ``tag``'s last value moved by ``factor`` times the run's tolerance for it."""
    other = copy.deepcopy(run)
    values = other["scalars"][tag]["values"]
    values[-1] += factor * budget(run) * (abs(values[-1]) + max(abs(v) for v in values))
    return other


def test_the_comparison_allows_rounding_and_nothing_more() -> None:
    run = stored("default_run.json")
    assert run_differences(copy.deepcopy(run), run) == []
    assert run_differences(perturbed(run, "theta/mean", 0.5), run) == []
    assert run_differences(perturbed(run, "theta/mean", 0.5), run, exact=True)
    assert run_differences(perturbed(run, "theta/mean", 2), run)
    assert budget(run) < 1e-4  # the default run's numbers are held to a few ulps per step
    counted = copy.deepcopy(run)
    counted["summary"]["steps_to_tolerance"] += 1
    assert run_differences(counted, run) == ["summary steps_to_tolerance: 13, stored 12"]
    shifted = copy.deepcopy(run)
    event = shifted["histograms"]["grad/per_sample_terms"]["events"][0]
    moved = next(i for i, c in enumerate(event["bucket"]) if c >= 3)
    event["bucket"][moved] -= 3  # three terms into the next bucket: more than rounding moves
    event["bucket"][moved + 1] += 3
    assert run_differences(shifted, run)


def test_the_printed_tables_allow_their_last_digit() -> None:
    table = (REFERENCE / "pair_table_theta1.md").read_text()
    assert table_differences(table.replace("30.19 ± 0.17", "30.21 ± 0.17"), table, PAIR_TABLE_TERMS)
    assert not table_differences(table.replace("30.19 ± 0.17", "30.18 ± 0.17"), table, PAIR_TABLE_TERMS)
    assert table_differences(table.replace("30.19 ± 0.17", "30.17 ± 0.17"), table, PAIR_TABLE_TERMS)
    rows = (REFERENCE / "variance.csv").read_text()
    value = rows.splitlines()[1].split(",")[6]  # the first row's mean, at n = 10
    near = repr(float(value) * (1 + 8 * 10**0.5 * U))
    far = repr(float(value) * (1 + 32 * 10**0.5 * U))
    assert not csv_differences(rows.replace(value, near, 1), rows)
    assert csv_differences(rows.replace(value, far, 1), rows)
