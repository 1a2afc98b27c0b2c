"""The variance study against the closed forms, with tolerances from the moments of the estimate."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import DictConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from reparam_opt.estimators import pathwise, score
from reparam_opt.variance.config import register_variance_configs
from reparam_opt.variance.study import chunk_bounds, study, variance_interval
from tests.closed_forms import central_moments, square_terms
from tests.conftest import compose_config

Z = 4.0
register_variance_configs()


@pytest.fixture
def variance_cfg() -> Callable[..., DictConfig]:
    """Compose ``conf/variance.yaml`` with overrides, exactly as ``python -m reparam_opt.variance`` would."""
    return lambda *overrides: compose_config("variance", *overrides)


def sample_variance_se(
    name: str, theta: float, sigma: float, n: int, repetitions: int
) -> tuple[float, float]:
    """Variance of the n-sample mean and the standard error of its sample variance over the repetitions.

    The mean of n terms has cumulants κ2/n and κ4/n³, so its 4th central moment is κ4/n³ + 3(κ2/n)²;
    the sample variance of R such estimates has variance μ4/R − σ⁴(R − 3)/(R(R − 1)).
    """
    _, var, m4 = central_moments(square_terms(name, theta, sigma))
    kappa4 = m4 - 3 * var**2
    var_n = var / n
    mu4_n = kappa4 / n**3 + 3 * var_n**2
    return var_n, math.sqrt(
        mu4_n / repetitions - var_n**2 * (repetitions - 3) / (repetitions * (repetitions - 1))
    )


def test_defaults_reproduce_the_seed_experiment(variance_cfg) -> None:
    cfg = variance_cfg()
    assert (cfg.theta, cfg.sigma, cfg.repetitions) == (2.0, 1.0, 100)
    assert list(cfg.sweep.points) == [10, 100, 1000, 10000, 100000] and cfg.sweep.parameter == "n_samples"
    assert sorted(cfg.estimators) == ["pathwise", "score"]


@pytest.mark.parametrize("n,dtype", [(10, "float32"), (1000, "float32"), (10, "float64")])
def test_measured_variance_matches_closed_form_against_n(variance_cfg, n: int, dtype: str) -> None:
    repetitions = 4000
    rows = study(variance_cfg(f"repetitions={repetitions}", f"sweep.points=[{n}]", f"dtype={dtype}"))
    assert [r["estimator"] for r in rows] == ["score", "pathwise"]
    for row in rows:
        expected, se = sample_variance_se(row["estimator"], 2.0, 1.0, n, repetitions)
        assert row["closed_form"] == pytest.approx(expected, rel=1e-9)
        assert abs(row["variance"] - expected) < Z * se
        assert abs(row["mean"] - 4.0) < Z * math.sqrt(expected / repetitions)
    assert rows[1]["vs_pathwise"] == 1.0
    assert rows[0]["vs_pathwise"] == pytest.approx(rows[0]["variance"] / rows[1]["variance"])


def test_per_sample_variance_matches_closed_form_against_theta(variance_cfg) -> None:
    repetitions, n = 4000, 20
    rows = study(
        variance_cfg("sweep=theta", "sweep.points=[-3,0,1.5]", f"n_samples={n}", f"repetitions={repetitions}")
    )
    assert len(rows) == 6
    for row in rows:
        expected, se = sample_variance_se(row["estimator"], row["value"], 1.0, n, repetitions)
        assert row["per_sample_closed_form"] == pytest.approx(expected * n, rel=1e-9)
        assert abs(row["per_sample_variance"] - expected * n) < Z * se * n


@pytest.mark.slow
def test_chunking_does_not_change_the_estimates(variance_cfg) -> None:
    overrides = ("+estimator@estimators.exact=exact", "repetitions=50", "sweep.points=[1,10,33]")
    whole = study(variance_cfg(*overrides, "chunk_elements=100000000"))
    for size in (1, 37, 500):
        assert study(variance_cfg(*overrides, f"chunk_elements={size}")) == whole  # every column, bit for bit


@pytest.mark.parametrize(
    "repetitions,n,chunk_elements", [(50, 1, 1), (50, 33, 70), (100, 100000, 2**21), (7, 3, 5)]
)
def test_chunks_cover_every_repetition_in_whole_blocks(repetitions: int, n: int, chunk_elements: int) -> None:
    bounds = chunk_bounds(repetitions, n, chunk_elements)
    assert bounds[0] == 0 and bounds[-1] == repetitions and bounds == sorted(set(bounds))
    sizes = [(b - a) * n for a, b in zip(bounds[:-1], bounds[1:])]
    assert all(size % 16 == 0 for size in sizes[:-1]) and (len(sizes) == 1 or sizes[-1] >= 16)
    assert max(sizes) <= max(chunk_elements, 16 * n) + 16 * n


def test_estimators_are_chosen_from_the_estimator_group(variance_cfg) -> None:
    cfg = variance_cfg(
        "+estimator@estimators.exact=exact",
        "~estimator@estimators.score",
        "sweep.points=[10]",
        "repetitions=10",
    )
    rows = {r["estimator"]: r for r in study(cfg)}
    assert sorted(rows) == ["exact", "pathwise"]
    assert rows["exact"]["variance"] == 0.0 and rows["exact"]["closed_form"] == 0.0
    assert rows["exact"]["ratio"] is None and rows["exact"]["vs_pathwise"] == 0.0


def test_interval_has_nominal_coverage_for_gaussian_estimates() -> None:
    """Bonett's interval at 95%: coverage within 4 binomial standard errors of 0.95 for Gaussian data."""
    rng = np.random.default_rng(0)
    trials, size = 2000, 100
    covered = sum(
        lo <= 1.0 <= hi
        for lo, hi in (variance_interval(rng.standard_normal(size), 0.95) for _ in range(trials))
    )
    assert abs(covered / trials - 0.95) < Z * math.sqrt(0.95 * 0.05 / trials)


@pytest.mark.parametrize(
    "override,message",
    [
        ("sweep.parameter=bogus", "sweep.parameter='bogus' is not allowed"),
        ("repetitions=3", "repetitions=3 is too few"),
        ("dtype=float16", "dtype=float16 is not allowed; use one of float32, float64"),
        ("sweep.points=[10,2.5]", r"sweep.points=\[2.5\] are not allowed; n_samples must be whole numbers"),
        ("dim=0", "dim=0 must be a whole number"),
        ("sweep.parameter=objective.k", "reparam_opt.objectives.Square has no key 'k'"),
    ],
)
def test_bad_input_is_one_clear_error(variance_cfg, override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        study(variance_cfg(override))


@pytest.mark.slow
def test_command_writes_table_csv_figure_and_board(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reparam_opt.variance", "sweep.points=[10,100]", "repetitions=20"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["outputs"]
    (run_dir,) = (tmp_path / "outputs" / "variance").glob("*/*")
    with open(run_dir / "variance.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["estimator"], float(r["value"])) for r in rows] == [
        ("score", 10),
        ("pathwise", 10),
        ("score", 100),
        ("pathwise", 100),
    ]
    assert (run_dir / "variance.png").stat().st_size > 10_000
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert table[0].startswith("| estimator | n_samples |") and len(table) == 2 + len(rows)
    assert float(rows[0]["closed_form"]) == pytest.approx(8.7) and "| 8.7 |" in table[2]
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    assert acc.Tags()["images"] == ["variance/n_samples"]
    bad = subprocess.run(
        [sys.executable, "-m", "reparam_opt.variance", "repetitions=2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 1 and bad.stderr.splitlines() == [
        "repetitions=2 is too few; the interval needs at least 5"
    ]


def cosine_or_bump_terms(objective: str, estimator: str, k: float, theta: float, sigma: float):
    """h(ε) of docs/maths.md's score and pathwise terms for cos(kx) and exp(−kx²), written independently."""
    f, df = {
        "cosine": (lambda x: np.cos(k * x), lambda x: -k * np.sin(k * x)),
        "gaussian_bump": (lambda x: np.exp(-k * x**2), lambda x: -2 * k * x * np.exp(-k * x**2)),
    }[objective]
    if estimator == "score":
        return lambda e: f(theta + sigma * e) * e / sigma
    return lambda e: df(theta + sigma * e)


@pytest.mark.parametrize("objective,below,above", [("cosine", 0.5, 3.0), ("gaussian_bump", 0.5, 3.0)])
def test_k_sweep_shows_pathwise_losing_at_large_k(
    variance_cfg, objective: str, below: float, above: float
) -> None:
    """θ = σ = 1: pathwise has the lower per-sample variance at small k and the higher one at large k.

    Each measured per-sample variance is within 4 standard errors of its closed form, and at both
    ends the two are further apart than 4 standard errors each (SEs from quadrature moments).
    """
    repetitions, n = 4000, 10
    cfg = variance_cfg(
        "sweep=k",
        f"objective={objective}",
        "theta=1",
        "sigma=1",
        f"n_samples={n}",
        f"repetitions={repetitions}",
        f"sweep.points=[{below},{above}]",
    )
    rows = {(r["estimator"], r["value"]): r for r in study(cfg)}
    band = {}
    for (estimator, k), row in rows.items():
        _, var, m4 = central_moments(cosine_or_bump_terms(objective, estimator, k, 1.0, 1.0), nodes=150)
        var_n, mu4_n = var / n, (m4 - 3 * var**2) / n**3 + 3 * (var / n) ** 2
        se = n * math.sqrt(
            mu4_n / repetitions - var_n**2 * (repetitions - 3) / (repetitions * (repetitions - 1))
        )
        assert row["per_sample_closed_form"] == pytest.approx(var, rel=1e-8)
        assert abs(row["per_sample_variance"] - var) < Z * se
        band[estimator, k] = (row["per_sample_variance"] - Z * se, row["per_sample_variance"] + Z * se)
    assert band["pathwise", below][1] < band["score", below][0]
    assert band["score", above][1] < band["pathwise", above][0]


def test_leave_one_out_closed_form_depends_on_n(variance_cfg) -> None:
    """The study passes n to the closed form: n·Var = 42 + 34/(n − 1) for x² at θ = 2 (45.78 at n = 10)."""
    cfg = variance_cfg(
        "+estimator@estimators.score_baseline=score_baseline", "sweep.points=[2,10]", "repetitions=5"
    )
    rows = [r for r in study(cfg) if r["estimator"] == "score_baseline"]
    assert [r["per_sample_closed_form"] for r in rows] == pytest.approx([42 + 34, 42 + 34 / 9])


@pytest.mark.slow
@pytest.mark.parametrize(
    "target,low,high",
    [("reparam_opt.objectives.Cosine", 1.06, 1.07), ("reparam_opt.objectives.GaussianBump", 0.86, 0.88)],
)
def test_closed_forms_cross_where_the_readme_says(target: str, low: float, high: float) -> None:
    """docs/maths.md, "Where pathwise loses": at θ = σ = 1 the closed-form per-sample variances of
    score and pathwise cross once for k in (0.05, 10], at k ≈ 1.06 for cos(kx) and k ≈ 0.87 for
    exp(−kx²); pathwise is lower before, higher after."""
    from hydra.utils import get_class

    ks = np.linspace(0.05, 10, 4000)
    theta = torch.tensor([1.0], dtype=torch.float64)
    gap = np.array(
        [
            float(
                pathwise.closed_form_variance(get_class(target)(k), theta, 1.0)
                - score.closed_form_variance(get_class(target)(k), theta, 1.0)
            )
            for k in ks
        ]
    )
    crossings = ks[1:][np.diff(np.sign(gap)) != 0]
    assert len(crossings) == 1 and low < crossings[0] < high
    assert gap[0] < 0 < gap[-1]


#: Runs the variance study as a child and prints the child's peak RSS in MiB (Linux ru_maxrss).
_PEAK_MIB = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
)


@pytest.mark.slow
def test_study_memory_does_not_grow_with_the_number_of_chunks(tmp_path: Path) -> None:
    """20 times the chunks must not mean a bigger heap: the work is chunked so memory stays bounded.

    At n = 10⁵ and 10⁶ terms per chunk (4 MB in float32), 100 repetitions are 10 chunks and 2000
    are 200. The peaks seen are in docs/performance.md, "What bounds each figure".
    """
    chunk_mib = 1_000_000 * 4 / 2**20
    peaks = [
        float(
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    _PEAK_MIB,
                    sys.executable,
                    "-m",
                    "reparam_opt.variance",
                    f"repetitions={repetitions}",
                    "sweep.points=[100000]",
                    "chunk_elements=1000000",
                    f"hydra.run.dir={tmp_path / str(repetitions)}",
                ],
                check=True,
                capture_output=True,
                text=True,
                cwd=Path(__file__).resolve().parents[1],
            ).stdout
        )
        for repetitions in (100, 2000)
    ]
    assert peaks[1] - peaks[0] < 25 * chunk_mib  # 190 more chunks may add less than 25 chunks' worth
