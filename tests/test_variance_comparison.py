"""The variance study's end-of-multirun comparison (``reparam_opt/variance/comparison.py``): one real
multirun across the draws, and its table, ratios and slopes on synthetic jobs, failed ones among them."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from reparam_opt.variance.comparison import NO_CSV, VarianceComparison, collect, markdown, write_comparison


def slope_rows(text: str) -> dict[tuple[str, ...], float]:
    """The slope table of comparison.md: (setting…, estimator, draws, control variate) → μ slope."""
    body = text.split("## Log-log slope")[1].split("##")[0]
    rows = [line.strip("| ").split(" | ") for line in body.splitlines() if line.startswith("| ")]
    return {tuple(r[:-1]): float(r[-1]) for r in rows[2:] if r[-1] != "–"}


@pytest.mark.slow
def test_a_multirun_across_the_draws_ends_with_the_comparison(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reparam_opt.variance",
            "-m",
            "draws=iid,antithetic,sobol",
            "sweep.points=[4,16]",
            "repetitions=50",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert (sweep / "comparison.png").stat().st_size > 10_000
    text = (sweep / "comparison.md").read_text()
    slopes = slope_rows(text)
    assert {k[:2] for k in slopes} >= {("score", "iid"), ("score", "antithetic"), ("score", "sobol")}
    # seeded, so fixed: Sobol' falls faster than n⁻², independent draws about as n⁻¹
    assert slopes[("pathwise", "sobol", "none")] < -2 and -1.5 < slopes[("pathwise", "iid", "none")] < -0.5
    # pathwise on the square is linear in ε: an antithetic pair's mean is exact, so it has no slope
    assert (
        "| pathwise | antithetic | none | 4 | 0 |" in text
        and ("pathwise", "antithetic", "none") not in slopes
    )
    assert "| score | iid | none | 16 |" in text and "without a variance.csv" not in text


@pytest.mark.slow
def test_a_refused_job_fails_alone_and_the_sweep_exits_1(tmp_path: Path) -> None:
    """draws=antithetic refuses the odd n of the sweep: that job writes its one line to failed.txt,
    the iid job still runs, the comparison lists the failed job with its line, and the sweep exits 1."""
    sweep = tmp_path / "sweep"
    result = subprocess.run(
        [sys.executable, "-m", "reparam_opt.variance", "-m", "draws=antithetic,iid", "sweep.points=[3,4]"]
        + ["repetitions=20", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    line = "estimators.score: bad value sweep.points=3: draws=antithetic needs an even number (pairs)"
    assert result.returncode == 1, result.stderr
    (refused,) = sweep.glob("draws=antithetic*")
    assert (refused / "failed.txt").read_text().strip() == line
    assert next(sweep.glob("draws=iid*")).joinpath("variance.csv").exists()
    assert f"`: {line}" in (sweep / "comparison.md").read_text()


def write_job(sweep: Path, name: str, overrides: list[str], rows: list[dict] | None) -> None:
    """A job directory as the study leaves it: its overrides, and variance.csv unless ``rows`` is None."""
    (sweep / name / ".hydra").mkdir(parents=True)
    (sweep / name / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if rows is not None:
        with open(sweep / name / "variance.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["estimator", "variance"])
            writer.writeheader()
            writer.writerows(rows)


def rows_of(estimator: str, variances: dict[int, float], trick: tuple[str, str] | None = None) -> list[dict]:
    extra = {"draws": trick[0], "control_variate": trick[1]} if trick else {}
    return [
        {"estimator": estimator, "parameter": "n_samples", "value": n, "n_samples": n, "mean": 4.0}
        | {"variance": v, "ci_low": v / 2, "ci_high": v * 2}
        | extra
        for n, v in variances.items()
    ]


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """iid/none, Sobol' with 4 scrambles, antithetic (exact for pathwise), the delta method, a failed
    job and one whose CSV has no rows; every job also sets repetitions, which labels nothing."""
    sweep = tmp_path / "sweep"
    write_job(sweep, "draws=iid", ["draws=iid", "repetitions=10"], rows_of("score", {4: 8.0, 16: 2.0}))
    sobol = rows_of("score", {4: 4.0, 16: 0.25}, ("sobol", "none"))
    write_job(sweep, "draws=sobol", ["draws=sobol", "draws.scrambles=4", "repetitions=10"], sobol)
    exact = rows_of("pathwise", {4: 1e-15, 16: 0.0}, ("antithetic", "none"))
    write_job(sweep, "draws=antithetic", ["draws=antithetic", "repetitions=10"], exact)
    delta = rows_of("score", {4: 2.0}, ("iid", "delta"))
    write_job(sweep, "control_variate=delta", ["control_variate=delta", "repetitions=10"], delta)
    write_job(sweep, "failed", ["draws=antithetic", "sweep.points=[3]", "repetitions=10"], None)
    write_job(sweep, "empty", ["draws=iid", "seed=1", "repetitions=10"], [])
    return sweep


def test_table_ratios_and_slopes_skip_the_failed_jobs(sweep: Path) -> None:
    rows, missing = collect([sweep])
    assert sorted((p.name, why == NO_CSV) for p, why in missing) == [("empty", False), ("failed", True)]
    ratio = {(r["estimator"], r["trick"], r["value"]): r["variance_ratio"] for r in rows}
    assert ratio[("score", ("sobol(scrambles=4)", "none"), 16)] == pytest.approx(0.125)
    assert ratio[("score", ("iid", "delta"), 4)] == pytest.approx(0.25)
    assert ratio[("pathwise", ("antithetic", "none"), 4)] is None  # no iid/none pathwise to divide by
    text = markdown(rows, missing, [sweep])
    assert "| score | sobol(scrambles=4) | none | 4 | 4 | 2 | 8 | 0.5 |" in text
    assert "| pathwise | antithetic | none | 4 | 0 |" in text  # float rounding of an exact gradient
    assert slope_rows(text) == {
        ("score", "iid", "none"): pytest.approx(-1.0),
        ("score", "sobol(scrambles=4)", "none"): pytest.approx(-2.0),
    }
    assert "setting" not in text.splitlines()[4]  # no override but the trick's differs between jobs
    assert f"failed`: {NO_CSV}" in text and "empty`: variance.csv has no rows" in text


def test_the_callback_writes_both_files_then_fails_a_sweep_with_failed_jobs(
    sweep: Path, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as end:  # the fixture's sweep has a failed and an empty job
        VarianceComparison().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    assert end.value.code == 1
    assert (sweep / "comparison.md").exists() and (sweep / "comparison.png").stat().st_size > 10_000
    gone = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "gone")}}})
    VarianceComparison().on_multirun_end(gone)  # nothing to read and nowhere to write: a warning


def test_settings_from_several_sweeps_label_rows_and_panels(tmp_path: Path) -> None:
    for objective in ("square", "cosine"):
        write_job(
            tmp_path / objective, "draws=iid", [f"objective={objective}"], rows_of("score", {4: 8, 16: 2})
        )
    missing = write_comparison([tmp_path / "square", tmp_path / "cosine"], tmp_path)
    text = (tmp_path / "comparison.md").read_text()
    assert missing == [] and "| setting | estimator |" in text
    assert "| objective=cosine | score | iid | none | -1.00 |" in text
    assert (tmp_path / "comparison.png").stat().st_size > 10_000
