"""summary.md's table: a column per metric that some configuration has, `never` for a tolerance a
run has but did not reach, `–` where there is no value, and never None. From real runs' summaries
(``train`` and ``write_failure``), laid out as a sweep's job directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reparam_opt.sweep_summary.jobs import find_jobs, group_jobs, varying_keys
from reparam_opt.sweep_summary.report import NO_VALUE, markdown, table_rows
from reparam_opt.training import train
from reparam_opt.training.summary import NEVER, THETA_STAR_METRICS, write_failure
from tests.conftest import compose_config

COMMON = ("steps=3", "replicates=8")
JOBS = {
    "square": ("objective=square",),  # θ* = 0, not reached in 3 steps
    "bump": ("objective=gaussian_bump",),  # no θ*
    "bernoulli": ("family=bernoulli", "estimator=score", "objective=target"),  # no θ*, a loss instead
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One job per entry of ``JOBS`` and one that failed before any work, each with Hydra's overrides."""
    root = tmp_path_factory.mktemp("sweep")
    for name, overrides in [*JOBS.items(), ("failed", ("objective=square", "steps=0"))]:
        job = root / name
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"+job={name}", *overrides]))
        if name == "failed":
            write_failure(job / "summary.json", compose_config("config"), ValueError("bad value steps=0"))
        else:
            train(compose_config("config", *overrides, *COMMON), job)
    return root


def table(sweep: Path, only: tuple[str, ...] | None = None) -> dict[str, dict[str, str]]:
    """summary.md's table for the sweep's jobs (those named in ``only``): {configuration: {column: cell}}."""
    groups = [g for g in group_jobs(find_jobs(sweep)) if only is None or g.overrides["job"] in only]
    rows = table_rows(groups, varying_keys(groups))
    text = markdown(rows, [], sweep)
    assert "None" not in text
    lines = [line.strip("|").split(" | ") for line in text.splitlines() if line.startswith("| ")]
    head = [cell.strip() for cell in lines[0]]
    return {row[0].strip(): dict(zip(head, (cell.strip() for cell in row))) for row in lines[1:]}


def by_job(cells: dict[str, dict[str, str]], name: str) -> dict[str, str]:
    (row,) = [row for label, row in cells.items() if f"job={name}" in label]
    return row


def test_each_cell_says_never_no_value_or_the_number(sweep: Path) -> None:
    cells = table(sweep)
    assert by_job(cells, "square")["steps_to_tolerance"] == NEVER
    for name in ("bump", "bernoulli"):  # no θ*: no tolerance to miss
        assert {by_job(cells, name)[key] for key in THETA_STAR_METRICS} == {NO_VALUE}, name
    assert by_job(cells, "square")["final_objective"] == NO_VALUE
    loss = json.loads((sweep / "bernoulli" / "summary.json").read_text())["final_objective"]
    assert float(by_job(cells, "bernoulli")["final_objective"]) == pytest.approx(loss, rel=1e-5)
    failed = by_job(cells, "failed")
    assert failed["failed jobs"] == "1" and failed["diverged replicates"] == NO_VALUE
    assert {cell for key, cell in failed.items() if key not in ("configuration", "failed jobs")} == {NO_VALUE}


def test_a_metric_no_configuration_has_gets_no_column(sweep: Path) -> None:
    bernoulli = next(iter(table(sweep, ("bernoulli",)).values()))
    assert not set(THETA_STAR_METRICS) & set(bernoulli) and "final_objective" in bernoulli
    gaussian = next(iter(table(sweep, ("square", "bump")).values()))
    assert "final_objective" not in gaussian and set(THETA_STAR_METRICS) <= set(gaussian)
    bump = next(iter(table(sweep, ("bump",)).values()))  # no θ*: neither its errors nor a loss
    assert not set(THETA_STAR_METRICS) & set(bump) and "path_length_ratio" in bump
