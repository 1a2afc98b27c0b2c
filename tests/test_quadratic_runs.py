"""``objective=quadratic`` by entry point: runs of every Gaussian estimator, the first logged step
against the closed forms, and the variance study against the dimension (the closed forms and their
Monte Carlo checks are in tests/test_quadratic.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from reparam_opt.estimators import ESTIMATORS
from reparam_opt.objectives.quadratic import Quadratic
from reparam_opt.training import train
from reparam_opt.variance.config import register_variance_configs
from reparam_opt.variance.study import study
from tests.conftest import compose_config, scalars
from tests.test_quadratic import DTYPE, GAUSSIAN_ESTIMATORS, Z, q_at


@pytest.mark.slow
@pytest.mark.parametrize("estimator", GAUSSIAN_ESTIMATORS)
@pytest.mark.parametrize("dim", [1, 3, 10])
@pytest.mark.parametrize("scale", ["fixed", "diagonal"])
def test_runs_complete(make_cfg, tmp_path: Path, estimator: str, dim: int, scale: str) -> None:
    cfg = make_cfg(
        "objective=quadratic",
        f"dim={dim}",
        f"estimator={estimator}",
        f"scale={scale}",
        "theta0=1.5",
        "lr=0.01",
        "steps=3",
        "replicates=4",
        "n_samples=2",
    )
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and summary["diverged"] == 0


def step_statistics(estimator: str, objective: Quadratic, mu: torch.Tensor, sigma: float, n: int):
    """What one replicate logs at step 0, over 2·10⁴ simulated replicates: the estimate averaged over
    coordinates (``grad/mean``) and its in-step variance summed over them (``grad/variance``)."""
    torch.manual_seed(17)
    fn = ESTIMATORS[estimator]
    terms = fn(objective, q_at(mu, sigma, "fixed", 20_000), n).detach()
    mean = terms.mean(-2)
    return mean.mean(-1), fn.variance_of_mean(terms, mean).sum(-1)


@pytest.mark.parametrize("estimator", GAUSSIAN_ESTIMATORS)
def test_first_step_meets_the_closed_forms(make_cfg, tmp_path: Path, estimator: str) -> None:
    """At step 0 every replicate is at μ = θ0·1, so the replicates are independent draws at one point:
    ``grad/mean`` meets ``grad/exact`` and ``grad/variance`` meets ``grad/variance_analytic`` within 4
    standard errors, each the spread of the replicate's statistic (simulated here in float64) over √R."""
    dim, n, replicates, theta0, sigma, rho = 3, 4, 1000, 1.5, 0.8, 0.6
    cfg = make_cfg(
        "objective=quadratic",
        f"objective.rho={rho}",
        f"estimator={estimator}",
        f"dim={dim}",
        f"n_samples={n}",
        f"theta0={theta0}",
        f"sigma={sigma}",
        f"replicates={replicates}",
        "steps=1",
        "log_every=1",
    )
    train(cfg, tmp_path)
    start = {tag: rows[0][1] for tag, rows in scalars(tmp_path).items() if rows[0][0] == 0}
    objective, mu = Quadratic(rho, 1.0), torch.full((dim,), theta0, dtype=DTYPE)
    exact = float(objective.gradient(mu, sigma).mean())  # 2(1 + (D − 1)ρ)(θ0 − k) in each coordinate
    analytic = ESTIMATORS[estimator].closed_form_variance(objective, mu, sigma, n) / n
    assert start["grad/exact"] == pytest.approx(exact, rel=1e-6)
    assert start["grad/variance_analytic"] == pytest.approx(float(analytic), rel=1e-5, abs=1e-9)
    means, variances = step_statistics(estimator, objective, mu, sigma, n)
    for tag, expected, spread in (
        ("grad/mean", exact, means.std()),
        ("grad/variance", float(analytic), variances.std()),
    ):
        tolerance = Z * float(spread) / math.sqrt(replicates) + 1e-6 * (1 + abs(expected))  # float32 rounding
        assert abs(start[tag] - expected) < tolerance, (tag, start[tag], expected, tolerance)


def test_variance_study_against_the_dimension() -> None:
    """``python -m reparam_opt.variance objective=quadratic sweep=dim`` at ρ = 0.5: every coordinate at
    θ = 0 (d = −1), the closed form per coordinate inside each measured variance's 4-SE interval."""
    register_variance_configs()
    confidence = 1.0 - 2.0 * (1.0 - 0.5 * (1.0 + math.erf(Z / math.sqrt(2.0))))  # ±4 SE
    n, repetitions = 10, 2000
    cfg = compose_config(
        "variance",
        "objective=quadratic",
        "objective.rho=0.5",
        "sweep=dim",
        "sweep.points=[1,3,10]",
        f"n_samples={n}",
        f"repetitions={repetitions}",
        "dtype=float64",
        f"confidence={confidence}",
    )
    rows = study(cfg)
    assert [(row["dim"], row["estimator"]) for row in rows] == [
        (dim, name) for dim in (1, 3, 10) for name in ("score", "pathwise")
    ]
    for row in rows:
        dim = row["dim"]
        mu = torch.zeros(dim, dtype=DTYPE)
        expected = float(Quadratic(0.5, 1.0).term_variances(row["estimator"], mu, 1.0).mean()) / n
        assert row["closed_form"] == pytest.approx(expected, rel=1e-9)
        assert row["ci_low"] <= expected <= row["ci_high"], row
