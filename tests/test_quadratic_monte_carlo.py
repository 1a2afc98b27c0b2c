"""``objective=quadratic``'s closed forms against Monte Carlo of f and of the estimators' own
terms, 4 standard errors (the closed forms themselves: tests/test_quadratic.py)."""

from __future__ import annotations

import math
import zlib

import pytest
import torch

from reparam_opt.estimators import ESTIMATORS
from tests.test_quadratic import (
    DRAWS,
    DTYPE,
    SAMPLING,
    SCALES,
    assert_within,
    point,
    q_at,
    sample_variance_se,
    scale_of,
)


@pytest.mark.parametrize("dim", [1, 3, 10])
def test_monte_carlo_of_f_meets_j(dim: int) -> None:
    objective, mu, sigma = point(dim)
    torch.manual_seed(dim)
    f = objective(mu + sigma * torch.randn(DRAWS, dim, dtype=DTYPE))
    spread = objective.parts(mu, sigma).var_f  # Var f = 4‖b‖² + 2 tr B²
    assert_within(f.mean(), objective.expectation(mu, sigma), (spread / DRAWS).sqrt(), "E f")
    assert_within(f.var(), spread, sample_variance_se(f), "Var f")


@pytest.mark.parametrize("name", SAMPLING)
@pytest.mark.parametrize("dim", [1, 3, pytest.param(10, marks=pytest.mark.slow)])
@pytest.mark.parametrize("learned", SCALES)
def test_terms_meet_the_closed_forms(name: str, dim: int, learned: str) -> None:
    """The mean and the sample variance of each μ-coordinate's terms, the mean of each s-coordinate's
    and their variances' sum, over 2·10⁵ terms at one point (100 replicates × 2000 samples)."""
    objective, mu, sigma = point(dim)
    sigma = scale_of(sigma, learned)
    torch.manual_seed(zlib.crc32(f"{name}/{dim}/{learned}".encode()))
    terms = ESTIMATORS[name](objective, q_at(mu, sigma, learned, 100), DRAWS // 100).detach()
    terms = terms.reshape(DRAWS, -1)
    mu_terms, s_terms = terms[:, :dim], terms[:, dim:]
    variances = objective.term_variances(name, mu, sigma)
    assert_within(mu_terms.mean(0), objective.gradient(mu, sigma), (variances / DRAWS).sqrt(), "μ mean")
    assert_within(mu_terms.var(0), variances, sample_variance_se(mu_terms), "μ variance")
    if name != "measure_valued" and dim > 1:
        i, j = torch.triu_indices(dim, dim, offset=1)
        centred = mu_terms - mu_terms.mean(0)
        products = centred[:, i] * centred[:, j]  # their means are the sample covariances, i < j
        expected = objective.term_covariances(mu, sigma)[name]()[i, j]
        assert_within(products.mean(0), expected, products.std(0) / math.sqrt(DRAWS), "covariance")
    if learned == "fixed":
        assert s_terms.shape[-1] == 0
        return
    assert_within(
        s_terms.mean(0),
        objective.scale_gradient(mu, sigma, learned),
        s_terms.std(0) / math.sqrt(DRAWS),
        "s mean",
    )
    spread = (s_terms - s_terms.mean(0)).square().sum(-1)  # its mean is the summed sample variance
    assert_within(
        spread.mean(),
        objective.scale_term_variance(name, mu, sigma, learned),
        spread.std() / math.sqrt(DRAWS),
        "s variance",
    )


@pytest.mark.parametrize("learned", ["fixed", "diagonal"])
def test_leave_one_out_estimates_meet_the_closed_form(learned: str) -> None:
    """n·Var of the n-sample leave-one-out estimate over 4·10⁴ replicates (its terms are correlated
    within a replicate, so the unit is the replicate's estimate)."""
    objective, mu, sigma = point(3)
    sigma = scale_of(sigma, learned)
    n, replicates = 5, DRAWS // 5
    torch.manual_seed(5)
    estimates = ESTIMATORS["score_baseline"](objective, q_at(mu, sigma, learned, replicates), n)
    estimates = estimates.detach().mean(-2)[:, :3]
    expected = objective.leave_one_out_variances(objective.term_variances("score", mu, sigma), mu, sigma, n)
    assert_within(
        estimates.mean(0), objective.gradient(mu, sigma), (expected / n / replicates).sqrt(), "mean"
    )
    assert_within(n * estimates.var(0), expected, n * sample_variance_se(estimates), "n·Var")
