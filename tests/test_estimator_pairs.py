"""Every estimator × objective pair: unbiased, and with the closed-form variance, checked two ways.

1. The code's closed forms equal quadrature of docs/maths.md's per-sample terms (no sampling).
2. Samples from the code's estimators match them within 4 standard errors, the standard error
   of a sample variance taken from the fourth central moment, itself from quadrature.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from reparam_opt import estimators
from reparam_opt.families.gaussian import at_point
from reparam_opt.objectives import Cosine, GaussianBump, Objective, ShiftedSquare, Square
from tests.closed_forms import (
    central_moments,
    gaussian_grid,
    leave_one_out_estimate,
    rayleigh_moments,
)

Z = 4.0
NpFn = Callable[[np.ndarray], np.ndarray]


def cases() -> list[tuple[str, Objective, NpFn, NpFn]]:
    """(id, objective, f, f') with f and f' written independently of the code, in numpy."""
    out: list[tuple[str, Objective, NpFn, NpFn]] = [("square", Square(), lambda x: x**2, lambda x: 2 * x)]
    for k in (1.2, -0.5):  # no θ in POINTS sits at k: the optimum is tested on its own
        out.append(
            (
                f"shifted_square(k={k})",
                ShiftedSquare(k),
                lambda x, k=k: (x - k) ** 2,
                lambda x, k=k: 2 * (x - k),
            )
        )
    for k in (0.5, 2.0):
        out.append(
            (
                f"gaussian_bump(k={k})",
                GaussianBump(k),
                lambda x, k=k: np.exp(-k * x**2),
                lambda x, k=k: -2 * k * x * np.exp(-k * x**2),
            )
        )
    for k in (1.0, 3.0):
        out.append(
            (f"cosine(k={k})", Cosine(k), lambda x, k=k: np.cos(k * x), lambda x, k=k: -k * np.sin(k * x))
        )
    return out


CASES = {name: (objective, f, df) for name, objective, f, df in cases()}
POINTS = [(1.0, 1.0), (-0.4, 1.0), (1.5, 0.7)]  # (θ, σ)
INDEPENDENT = ["score", "pathwise", "measure_valued"]
#: The pairs with no elementary closed-form variance (measure-valued: Dawson's integral, or erf).
NO_CLOSED_FORM = {("measure_valued", "gaussian_bump"), ("measure_valued", "cosine")}


def term_moments(estimator: str, f: NpFn, df: NpFn, theta: float, sigma: float) -> tuple[float, float, float]:
    """Mean, variance and fourth central moment of one per-sample term, by quadrature."""
    if estimator == "score":
        return central_moments(lambda e: f(theta + sigma * e) * e / sigma, nodes=150)
    if estimator == "pathwise":
        return central_moments(lambda e: df(theta + sigma * e), nodes=150)
    if estimator == "measure_valued":
        return rayleigh_moments(
            lambda w: (f(theta + sigma * w) - f(theta - sigma * w)) / (sigma * math.sqrt(2 * math.pi))
        )
    raise ValueError(estimator)


def leave_one_out_moments(f: NpFn, theta: float, sigma: float, n: int) -> tuple[float, float, float]:
    """Mean, variance and fourth central moment of the n-sample leave-one-out estimate, by n-D quadrature."""
    eps, weights = gaussian_grid(n, nodes=40)
    estimate, _ = leave_one_out_estimate(f, theta, sigma, eps)
    mean = float(weights @ estimate)
    return mean, float(weights @ (estimate - mean) ** 2), float(weights @ (estimate - mean) ** 4)


def draw(
    estimator: str, objective: Objective, theta: float, sigma: float, replicates: int, n: int, seed: int = 0
):
    """One-dimensional terms, [replicates, n]."""
    torch.manual_seed(seed)
    q = at_point(replicates, 1, theta, sigma, dtype=torch.float64)
    return getattr(estimators, estimator)(objective, q, n)[..., 0]


def closed_form(objective: Objective, estimator: str, theta: float, sigma: float, n: int = 1) -> float | None:
    value = estimators.ESTIMATORS[estimator].closed_form_variance(
        objective, torch.tensor([theta], dtype=torch.float64), sigma, n_samples=n
    )
    return None if value is None else float(value)


def family(case: str) -> str:
    return case.split("(")[0]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("theta,sigma", POINTS)
def test_closed_forms_of_j_match_quadrature(case: str, theta: float, sigma: float) -> None:
    objective, f, df = CASES[case]
    t = torch.tensor(theta, dtype=torch.float64)
    gauss = lambda h: central_moments(h, nodes=150)[0]  # noqa: E731
    assert float(objective.value(t, sigma)) == pytest.approx(
        gauss(lambda e: f(theta + sigma * e)), rel=1e-9, abs=1e-12
    )
    assert float(objective.grad(t, sigma)) == pytest.approx(
        gauss(lambda e: df(theta + sigma * e)), rel=1e-9, abs=1e-12
    )
    # J'' = E[f (ε² − 1)]/σ², and E[f²]: the moments the leave-one-out variance is built from.
    curvature = gauss(lambda e: f(theta + sigma * e) * (e**2 - 1)) / sigma**2
    assert float(objective.curvature(t, sigma)) == pytest.approx(curvature, rel=1e-9, abs=1e-12)
    assert float(objective.second_moment(t, sigma)) == pytest.approx(
        gauss(lambda e: f(theta + sigma * e) ** 2), rel=1e-9
    )


@pytest.mark.parametrize("estimator", INDEPENDENT)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("theta,sigma", POINTS)
def test_closed_form_variance_matches_quadrature(
    estimator: str, case: str, theta: float, sigma: float
) -> None:
    objective, f, df = CASES[case]
    mean, var, _ = term_moments(estimator, f, df, theta, sigma)
    assert mean == pytest.approx(
        float(objective.grad(torch.tensor(theta, dtype=torch.float64), sigma)), rel=1e-6, abs=1e-9
    )
    code = closed_form(objective, estimator, theta, sigma)
    if (estimator, family(case)) in NO_CLOSED_FORM:
        assert code is None
    else:
        assert code == pytest.approx(var, rel=1e-8, abs=1e-12)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("case", ["square", "shifted_square(k=1.2)", "gaussian_bump(k=0.5)", "cosine(k=1.0)"])
@pytest.mark.parametrize("theta,sigma", POINTS)
def test_leave_one_out_closed_form_matches_quadrature(n: int, case: str, theta: float, sigma: float) -> None:
    objective, f, _ = CASES[case]
    mean, var, _ = leave_one_out_moments(f, theta, sigma, n)
    assert mean == pytest.approx(
        float(objective.grad(torch.tensor(theta, dtype=torch.float64), sigma)), rel=1e-8, abs=1e-10
    )
    assert closed_form(objective, "score_baseline", theta, sigma, n) == pytest.approx(n * var, rel=1e-8)


@pytest.mark.parametrize("estimator", INDEPENDENT)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("theta,sigma", POINTS)
def test_independent_terms_are_unbiased_with_the_closed_form_variance(
    estimator: str, case: str, theta: float, sigma: float
) -> None:
    objective, f, df = CASES[case]
    terms = draw(estimator, objective, theta, sigma, replicates=4000, n=50).flatten()
    mean, var, m4 = term_moments(estimator, f, df, theta, sigma)
    size = terms.numel()
    assert abs(float(terms.mean()) - mean) < Z * math.sqrt(var / size)
    assert abs(float(terms.var()) - var) < Z * math.sqrt((m4 - var**2) / size)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize(
    "case", ["square", "shifted_square(k=-0.5)", "gaussian_bump(k=2.0)", "cosine(k=1.0)"]
)
@pytest.mark.parametrize("theta,sigma", POINTS)
def test_leave_one_out_is_unbiased_with_the_closed_form_variance(
    n: int, case: str, theta: float, sigma: float
) -> None:
    objective, f, _ = CASES[case]
    replicates = 100_000
    estimate = draw("score_baseline", objective, theta, sigma, replicates=replicates, n=n).mean(-1)
    mean, var, m4 = leave_one_out_moments(f, theta, sigma, n)
    assert abs(float(estimate.mean()) - mean) < Z * math.sqrt(var / replicates)
    variance_of_mean = closed_form(objective, "score_baseline", theta, sigma, n) / n
    assert abs(float(estimate.var()) - variance_of_mean) < Z * math.sqrt((m4 - var**2) / replicates)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("case", ["square", "cosine(k=1.0)"])
def test_leave_one_out_in_step_variance_is_unbiased(n: int, case: str) -> None:
    """The terms are correlated, so sample variance / n is biased; ``variance_of_mean`` is not."""
    objective, f, _ = CASES[case]
    theta, sigma, replicates = 1.0, 1.0, 100_000
    terms = draw("score_baseline", objective, theta, sigma, replicates=replicates, n=n, seed=3)
    logged = estimators.score_baseline.variance_of_mean(terms[..., None])[..., 0]
    eps, weights = gaussian_grid(n, nodes=40)
    estimate, quad_terms = leave_one_out_estimate(f, theta, sigma, eps)
    stacked = np.stack(quad_terms)
    in_step = stacked.var(0, ddof=1) / n + (estimate**2 - stacked.var(0, ddof=1) / n) / ((n - 1) ** 2 + 1)
    mean = float(weights @ in_step)
    spread = float(weights @ (in_step - mean) ** 2)
    assert mean == pytest.approx(closed_form(objective, "score_baseline", theta, sigma, n) / n, rel=1e-8)
    assert abs(float(logged.mean()) - mean) < Z * math.sqrt(spread / replicates)


def test_leave_one_out_beats_score_at_theta_2() -> None:
    """At θ = 2, n = 3 on x², the two sample variances lie more than 4 + 4 standard errors apart."""
    theta, sigma, n, replicates = 2.0, 1.0, 3, 100_000
    objective, f, df = CASES["square"]
    baseline = draw("score_baseline", objective, theta, sigma, replicates, n).mean(-1)
    plain = draw("score", objective, theta, sigma, replicates, n, seed=1).mean(-1)
    _, var_b, m4_b = leave_one_out_moments(f, theta, sigma, n)
    _, var_s, m4_term = term_moments("score", f, df, theta, sigma)
    var_plain = var_s / n
    m4_plain = (m4_term + 3 * (n - 1) * var_s**2) / n**3  # fourth central moment of a mean of n iid terms
    se_b = math.sqrt((m4_b - var_b**2) / replicates)
    se_s = math.sqrt((m4_plain - var_plain**2) / replicates)
    assert float(baseline.var()) + Z * se_b < float(plain.var()) - Z * se_s


def test_measure_valued_has_zero_variance_at_the_optimum_of_a_square() -> None:
    """The closed form 4d²(4 − π)/π is 0 at d = 0. For x² at θ = 0 every term is exactly 0.0,
    since (σw)² = (−σw)² in floating point; for (x − k)² at θ = k only the float64 rounding of
    x − k is left (|x| < 10 here, so each term is below 1e-12)."""
    terms = draw("measure_valued", Square(), 0.0, 1.0, replicates=100, n=100)
    assert torch.count_nonzero(terms) == 0
    shifted = draw("measure_valued", ShiftedSquare(1.5), 1.5, 1.0, replicates=100, n=100)
    assert float(shifted.abs().max()) < 1e-12
    assert closed_form(Square(), "measure_valued", 0.0, 1.0) == 0.0
    assert closed_form(Square(), "pathwise", 0.0, 1.0) == 4.0


def test_reference_table_values_for_the_new_estimators() -> None:
    """docs/maths.md: measure-valued 4.37 at θ = 2 (σ = 1); leave-one-out 45.78 at n = 10, θ = 2."""
    assert closed_form(Square(), "measure_valued", 2.0, 1.0) == pytest.approx(16 * (4 - math.pi) / math.pi)
    assert round(closed_form(Square(), "measure_valued", 2.0, 1.0), 2) == 4.37
    # n·Var = 8d² + 10σ² + (8d² + 2σ²)/(n − 1) = 42 + 34/9 = 45.78 at n = 10.
    assert closed_form(Square(), "score_baseline", 2.0, 1.0, n=10) == pytest.approx(42 + 34 / 9)


def test_declared_costs_and_minimum_samples() -> None:
    declared = {
        name: (getattr(estimators, name).f_evals_per_sample, getattr(estimators, name).min_samples)
        for name in ("score", "pathwise", "exact", "score_baseline", "measure_valued")
    }
    assert declared == {
        "score": (1, 1),
        "pathwise": (1, 1),
        "exact": (0, 1),
        "score_baseline": (1, 2),
        "measure_valued": (2, 1),
    }
    with pytest.raises(ValueError, match="n_samples >= 2"):
        draw("score_baseline", Square(), 1.0, 1.0, replicates=4, n=1)
