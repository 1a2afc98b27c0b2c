"""Each estimator against the closed forms of docs/maths.md, with tolerances of 4 standard errors."""

from __future__ import annotations

import math

import pytest
import torch

from reparam_opt import estimators
from reparam_opt.estimators import ESTIMATORS
from reparam_opt.families.gaussian import GaussianFamily, at_point
from reparam_opt.objectives import Square
from reparam_opt.training.scalars import step_scalars
from tests.closed_forms import central_moments, square_terms

Z = 4.0  # standard errors allowed; with a fixed seed the test is deterministic
SAMPLING = ["score", "pathwise"]
POINTS = [(-1.5, 1.0), (0.0, 1.0), (2.0, 1.0), (1.0, 0.5)]  # (θ, σ)


def draw(name: str, theta: float, sigma: float, replicates: int, n: int, seed: int = 0) -> torch.Tensor:
    """One-dimensional terms, [replicates, n]."""
    torch.manual_seed(seed)
    q = at_point(replicates, 1, theta, sigma, dtype=torch.float64)
    return getattr(estimators, name)(Square(), q, n)[..., 0]


def at(theta: float) -> torch.Tensor:
    """μ in one dimension, [1]."""
    return torch.tensor([theta], dtype=torch.float64)


@pytest.mark.parametrize("name", SAMPLING)
@pytest.mark.parametrize("theta,sigma", POINTS)
def test_mean_is_the_exact_gradient(name: str, theta: float, sigma: float) -> None:
    terms = draw(name, theta, sigma, replicates=2000, n=50)
    assert terms.shape == (2000, 50)
    variance = float(ESTIMATORS[name].closed_form_variance(Square(), at(theta), sigma))
    standard_error = math.sqrt(variance / terms.numel())
    assert abs(float(terms.mean()) - 2 * theta) < Z * standard_error


@pytest.mark.parametrize("name", SAMPLING)
@pytest.mark.parametrize("theta,sigma", POINTS)
def test_closed_form_variance_matches_reference_terms(name: str, theta: float, sigma: float) -> None:
    """The code's closed form equals the variance of docs/maths.md's per-sample term, exactly."""
    mean, var, _ = central_moments(square_terms(name, theta, sigma))
    assert mean == pytest.approx(2 * theta, abs=1e-9)
    assert float(ESTIMATORS[name].closed_form_variance(Square(), at(theta), sigma)) == pytest.approx(
        var, rel=1e-9
    )


def test_reference_table_values() -> None:
    """docs/maths.md: per-sample variance 87 (score) and 4 (pathwise) at θ=2, σ=1; 15 and 4 at θ=0."""
    value = lambda name, theta: float(ESTIMATORS[name].closed_form_variance(Square(), at(theta), 1.0))  # noqa: E731
    assert (value("score", 2.0), value("pathwise", 2.0), value("score", 0.0), value("exact", 2.0)) == (
        87.0,
        4.0,
        15.0,
        0.0,
    )


@pytest.mark.parametrize("name", SAMPLING)
@pytest.mark.parametrize("theta,sigma", POINTS)
def test_per_sample_variance(name: str, theta: float, sigma: float) -> None:
    terms = draw(name, theta, sigma, replicates=4000, n=50).flatten()
    _, var, m4 = central_moments(square_terms(name, theta, sigma))
    standard_error = math.sqrt((m4 - var**2) / terms.numel())
    assert abs(float(terms.var()) - var) < Z * standard_error


@pytest.mark.parametrize("name", SAMPLING)
@pytest.mark.parametrize("n", [2, 10])
def test_in_step_variance_estimate(name: str, n: int) -> None:
    """``grad/variance`` (sample variance / n, averaged over replicates) agrees with variance / n."""
    theta, sigma, replicates = 2.0, 1.0, 20000
    terms = draw(name, theta, sigma, replicates=replicates, n=n, seed=1)
    theta_t = torch.full((replicates, 1), theta, dtype=torch.float64)
    alive = torch.ones(replicates, dtype=torch.bool)
    family = GaussianFamily(sigma=sigma)
    logged = step_scalars(theta_t, terms[..., None], alive, Square(), ESTIMATORS[name], family)
    _, var, m4 = central_moments(square_terms(name, theta, sigma))
    assert float(logged["grad/variance_analytic"]) == pytest.approx(var / n, rel=1e-9)
    # Var of the unbiased sample variance of n terms: μ4/n − σ⁴(n−3)/(n(n−1)).
    var_of_s2 = m4 / n - var**2 * (n - 3) / (n * (n - 1))
    standard_error = math.sqrt(var_of_s2 / replicates) / n
    assert abs(float(logged["grad/variance"]) - var / n) < Z * standard_error


def test_no_in_step_variance_from_one_sample() -> None:
    terms = draw("pathwise", 1.0, 1.0, replicates=8, n=1)
    logged = step_scalars(
        torch.ones(8, 1),
        terms[..., None],
        torch.ones(8, dtype=torch.bool),
        Square(),
        estimators.pathwise,
        GaussianFamily(),
    )
    assert logged["grad/variance"] is None
    assert float(logged["grad/variance_analytic"]) == pytest.approx(4.0)


def test_exact_has_zero_variance() -> None:
    terms = draw("exact", 2.0, 1.0, replicates=3, n=5)
    assert torch.equal(terms, torch.full((3, 5), 4.0, dtype=torch.float64))


def test_replicates_are_independent() -> None:
    terms = draw("pathwise", 0.0, 1.0, replicates=2, n=10000)
    correlation = torch.corrcoef(terms)[0, 1]
    assert abs(float(correlation)) < Z / math.sqrt(10000)


@pytest.mark.slow
def test_every_estimator_has_its_yaml_and_every_yaml_names_one(make_cfg) -> None:
    """A new estimator is a function, its ESTIMATORS entry and conf/estimator/<name>.yaml."""
    from reparam_opt.training.config import estimator_of
    from tests.conftest import ROOT

    options = {path.stem for path in (ROOT / "conf" / "estimator").glob("*.yaml")}
    assert options == set(ESTIMATORS)
    for name in options:
        assert (
            estimator_of(make_cfg(f"estimator={name}").estimator)
            is ESTIMATORS[name]
            is getattr(estimators, name)
        )
