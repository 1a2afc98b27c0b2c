"""The correlated quadratic f(x) = (x − m)ᵀA(x − m), A = (1 − ρ)I + ρ11ᵀ, against its closed forms.

1. The closed forms: REFERENCE's check point to the digits it gives, the square in D = 1 and at
   ρ = 0, and Gauss–Hermite quadrature of the terms as docs/maths.md writes them (exact for a
   polynomial in ε), μ- and s-terms, covariances and the leave-one-out estimate.
2. Monte Carlo (float64, 2·10⁵ draws) of f and of the estimators' own terms at D = 1, 3, 10 in each
   scale mode, within 4 standard errors: a mean's from the closed-form variance, a sample
   variance's from the sample's fourth central moment, sqrt((m4 − v²)/N).
3. Runs and the variance study. These import the training and variance packages inside the test,
   so that parts 1 and 2 stand on the objective and the estimators alone.
"""

from __future__ import annotations

import math

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from reparam_opt.estimators import ESTIMATORS
from reparam_opt.families.gaussian import Gaussian
from reparam_opt.objectives.base import Optimum
from reparam_opt.objectives.quadratic import Quadratic, QuadraticConfig
from reparam_opt.objectives.squares import ShiftedSquare
from tests.closed_forms import gaussian_grid

Z = 4.0
DTYPE = torch.float64
DRAWS = 200_000
SCALES = ("fixed", "shared", "diagonal")
SAMPLING = ("score", "pathwise", "measure_valued")
GAUSSIAN_ESTIMATORS = ("score", "score_baseline", "pathwise", "measure_valued", "exact")


def vector(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=DTYPE)


def reference_point() -> tuple[Quadratic, torch.Tensor, torch.Tensor]:
    """REFERENCE's check point: D = 3, ρ = 0.6, m = (0.5, −1, 2), μ = (1.2, 0.3, −0.4), σ = (0.7, 1.3, 1)."""
    return Quadratic(0.6, m=vector(0.5, -1.0, 2.0)), vector(1.2, 0.3, -0.4), vector(0.7, 1.3, 1.0)


def point(dim: int) -> tuple[Quadratic, torch.Tensor, torch.Tensor]:
    """A point off the optimum with a different μ_i and σ_i in every coordinate."""
    if dim == 3:
        return reference_point()
    if dim == 1:
        return Quadratic(0.6, k=0.5), vector(1.3), vector(0.8)
    steps = torch.linspace(0.0, 1.0, dim, dtype=DTYPE)
    return Quadratic(0.3, k=1.0), 3.0 * steps - 1.0, 0.5 + 0.9 * steps


def scale_of(sigma: torch.Tensor, learned: str) -> torch.Tensor | float:
    """σ as the closed forms take it: a number (fixed), [1] (shared) or [D] (diagonal)."""
    if learned == "fixed":
        return float(sigma.mean())
    return sigma.mean().reshape(1) if learned == "shared" else sigma


def q_at(mu: torch.Tensor, sigma: torch.Tensor | float, learned: str, replicates: int) -> Gaussian:
    loc = mu.expand(replicates, -1).clone()
    if learned == "fixed":
        return Gaussian(loc, torch.tensor(sigma, dtype=DTYPE))
    return Gaussian(loc, sigma.expand(replicates, -1).clone(), learned)


def sample_variance_se(x: torch.Tensor) -> torch.Tensor:
    """The standard error of the sample variance of each column of x [N, ...]: sqrt((m4 − v²)/N)."""
    centred = x - x.mean(0)
    v = centred.square().mean(0)
    return ((centred**4).mean(0) - v.square()).clamp_min(0).div(x.shape[0]).sqrt()


def assert_within(measured: torch.Tensor, expected: torch.Tensor, se: torch.Tensor, what: str) -> None:
    z = (measured - expected) / se
    assert bool((z.abs() < Z).all()), f"{what}: measured {measured}, expected {expected}, z {z}"


# 1. The closed forms.


def test_reference_check_point() -> None:
    objective, mu, sigma = reference_point()
    assert float(objective.expectation(mu, sigma)) == pytest.approx(6.452, abs=5e-4)
    assert objective.gradient(mu, sigma).tolist() == pytest.approx([0.08, 0.56, -2.4], abs=5e-3)
    score = objective.term_variances("score", mu, sigma)
    assert score.tolist() == pytest.approx([160.84, 79.70, 106.29], abs=5e-3)
    pathwise = objective.term_variances("pathwise", mu, sigma)
    assert pathwise.tolist() == pytest.approx([5.834, 8.906, 7.139], abs=5e-4)
    assert objective.scale_gradient(mu, sigma, "diagonal").tolist() == pytest.approx(
        [0.98, 3.38, 2.00], abs=5e-3
    )
    assert objective.scale_gradient(mu, sigma, "fixed") is None


@pytest.mark.parametrize("rho", [-3.0, 0.0, 0.6, 0.99])
def test_one_dimension_is_the_square(rho: float) -> None:
    """In D = 1, A = 1 whatever ρ: every closed form is ``ShiftedSquare(k)``'s."""
    k = 0.7
    objective, square = Quadratic(rho, k), ShiftedSquare(k)
    mu = torch.linspace(-2.0, 3.0, 7, dtype=DTYPE).unsqueeze(-1)
    sigma = torch.linspace(0.3, 1.7, 7, dtype=DTYPE).unsqueeze(-1)
    assert torch.allclose(objective.expectation(mu, sigma), square.value(mu, sigma)[..., 0])
    assert torch.allclose(objective.gradient(mu, sigma), square.grad(mu, sigma))
    for name, closed_form in square.per_sample_variances(mu, sigma).items():
        assert torch.allclose(objective.term_variances(name, mu, sigma), closed_form()), name
    for learned in ("shared", "diagonal"):
        assert torch.allclose(
            objective.scale_gradient(mu, sigma, learned), square.scale_gradient(mu, sigma, learned)
        )
    x = torch.linspace(-3.0, 3.0, 11, dtype=DTYPE).unsqueeze(-1)
    assert torch.allclose(objective(x), square(x))


@pytest.mark.parametrize("dim", [3, 10])
@pytest.mark.parametrize("learned", SCALES)
def test_no_correlation_is_the_square_in_every_dimension(dim: int, learned: str) -> None:
    """At ρ = 0, f = ‖x − k‖²: every whole-vector closed form is the separable square's."""
    generator = torch.Generator().manual_seed(dim)
    mu = torch.randn(5, dim, generator=generator, dtype=DTYPE)
    sigma = 0.3 + torch.rand(5, 1 if learned == "shared" else dim, generator=generator, dtype=DTYPE)
    sigma = 0.8 if learned == "fixed" else sigma
    objective, square = Quadratic(0.0, 0.7), ShiftedSquare(0.7)
    assert torch.allclose(objective.expectation(mu, sigma), square.expectation(mu, sigma))
    for name in SAMPLING:
        variances = objective.term_variances(name, mu, sigma)
        assert torch.allclose(variances, square.term_variances(name, mu, sigma)), name
        if learned != "fixed":
            assert torch.allclose(
                objective.scale_term_variance(name, mu, sigma, learned),
                square.scale_term_variance(name, mu, sigma, learned),
            ), name
    for name, covariance in square.term_covariances(mu, sigma).items():
        assert torch.allclose(objective.term_covariances(mu, sigma)[name](), covariance()), name
    score = objective.term_variances("score", mu, sigma)
    for n in (2, 7):
        assert torch.allclose(
            objective.leave_one_out_variances(score, mu, sigma, n),
            square.leave_one_out_variances(score, mu, sigma, n),
        )
    if learned != "fixed":
        assert torch.allclose(
            objective.scale_gradient(mu, sigma, learned), square.scale_gradient(mu, sigma, learned)
        )


def test_cost_is_the_quadratic_form_and_its_gradient() -> None:
    """f without A equals (x − m)ᵀA(x − m) with A formed, and autograd's ∇f is 2A(x − m)."""
    objective, _, _ = reference_point()
    a = 0.4 * torch.eye(3, dtype=DTYPE) + 0.6
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=DTYPE).requires_grad_(True)
    y = x - objective.m
    assert torch.allclose(objective(x), torch.einsum("ri,ij,rj->r", y, a, y))
    (grad,) = torch.autograd.grad(objective(x).sum(), x)
    assert torch.allclose(grad, 2.0 * y @ a)


def weighted_moments(terms: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean [P] and covariance [P, P] of terms [N, P] under quadrature weights [N]."""
    mean = weights @ terms
    centred = terms - mean
    return mean, centred.T @ (weights.unsqueeze(-1) * centred)


def quadrature(dims: int, nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gauss–Hermite nodes ε [N, dims] and weights [N] for dims independent N(0, 1)."""
    grids, weights = gaussian_grid(dims, nodes)
    return torch.tensor(list(zip(*grids)), dtype=DTYPE), torch.tensor(weights, dtype=DTYPE)


@pytest.mark.parametrize("rho", [0.6, -0.4])
@pytest.mark.parametrize("learned", ["shared", "diagonal"])
def test_closed_forms_match_quadrature(rho: float, learned: str) -> None:
    """Every term of docs/maths.md ("A correlated quadratic") at D = 3, integrated exactly: six
    Gauss–Hermite nodes per coordinate integrate polynomials of degree 11, and no term squared
    has a degree above 8 in any ε_i."""
    _, mu, sigma = reference_point()
    objective = Quadratic(rho, m=vector(0.5, -1.0, 2.0))
    sigma = scale_of(sigma, learned)
    eps, weights = quadrature(3, 6)
    y = mu - objective.m + sigma * eps
    f, a_y = objective(mu + sigma * eps), objective.times_a(y)
    score_s = f.unsqueeze(-1) * (eps.square() - 1.0)
    pathwise_s = 2.0 * sigma * eps * a_y
    terms = {
        "score": (f.unsqueeze(-1) * eps / sigma, score_s),
        "pathwise": (2.0 * a_y, pathwise_s),
    }
    for name, (mu_terms, s_terms) in terms.items():
        if learned == "shared":
            s_terms = s_terms.sum(-1, keepdim=True)
        mean, covariance = weighted_moments(torch.cat([mu_terms, s_terms], -1), weights)
        expected_mean = torch.cat(
            [objective.gradient(mu, sigma), objective.scale_gradient(mu, sigma, learned)]
        )
        assert torch.allclose(mean, expected_mean), name
        mu_block = covariance[:3, :3]
        assert torch.allclose(mu_block.diagonal(), objective.term_variances(name, mu, sigma)), name
        off_diagonal = mu_block - torch.diag(mu_block.diagonal())
        assert torch.allclose(off_diagonal, objective.term_covariances(mu, sigma)[name]()), name
        s_variance = covariance[3:, 3:].diagonal().sum()
        assert torch.allclose(s_variance, objective.scale_term_variance(name, mu, sigma, learned)), name
    assert float(weights @ f) == pytest.approx(float(objective.expectation(mu, sigma)), rel=1e-12)


@pytest.mark.parametrize("dim,n", [(2, 3), (3, 2)])
def test_leave_one_out_matches_quadrature(dim: int, n: int) -> None:
    """n·Var of the n-sample leave-one-out estimate, over the n·D normals of its draws (five nodes
    each: the estimate squared has degree 6 in each)."""
    objective, mu, sigma = (
        Quadratic(0.6, m=vector(0.5, -1.0, 2.0)[:dim]),
        vector(1.2, 0.3, -0.4),
        vector(0.7, 1.3, 1.0),
    )
    mu, sigma = mu[:dim], sigma[:dim]
    eps, weights = quadrature(n * dim, 5)
    draws = eps.reshape(-1, n, dim)
    f = objective(mu + sigma * draws)  # [N, n]
    baseline = (f.sum(-1, keepdim=True) - f) / (n - 1)
    estimate = ((f - baseline).unsqueeze(-1) * draws / sigma).mean(-2)
    mean, covariance = weighted_moments(estimate, weights)
    score = objective.term_variances("score", mu, sigma)
    assert torch.allclose(mean, objective.gradient(mu, sigma))
    assert torch.allclose(n * covariance.diagonal(), objective.leave_one_out_variances(score, mu, sigma, n))


def test_optimum_schema_and_curvature() -> None:
    assert Quadratic(0.6, 1.5).optimum(3.0, 0.5) == Optimum(1.5, 0.25)
    assert Quadratic().theta_star == 1.0 and Quadratic().curvature_free()
    assert Quadratic.schema is QuadraticConfig and Quadratic.name == "quadratic"
    objective = instantiate(OmegaConf.structured(QuadraticConfig))
    assert isinstance(objective, Quadratic) and (objective.rho, objective.k) == (0.5, 1.0)
    mu = torch.full((4,), 1.5, dtype=DTYPE)  # μ* = k: J* = Σσ², the entropy-free optimum in D = 4
    assert float(Quadratic(0.6, 1.5).expectation(mu, 0.5)) == pytest.approx(4 * 0.25)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            {"rho": math.nan},
            "objective.rho=nan is not allowed for objective=quadratic: rho must be a finite number",
        ),
        (
            {"rho": math.inf},
            "objective.rho=inf is not allowed for objective=quadratic: rho must be a finite number",
        ),
        (
            {"k": math.nan},
            "objective.k=nan is not allowed for objective=quadratic: k must be a finite number",
        ),
    ],
)
def test_validate_refuses_a_non_finite_parameter_in_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as error:
        Quadratic(**kwargs).validate()
    assert str(error.value) == message


@pytest.mark.parametrize(
    "rho,dim,interval",
    [
        (1.0, 3, "-0.5 < rho < 1"),
        (-0.5, 3, "-0.5 < rho < 1"),
        (-0.2, 10, "-0.111111 < rho < 1"),
        (1.5, 1, "rho must be < 1"),
    ],
)
def test_check_dim_refuses_an_indefinite_a_in_one_line(rho: float, dim: int, interval: str) -> None:
    objective = Quadratic(rho)
    objective.validate()
    with pytest.raises(ValueError) as error:
        objective.check_dim(dim)
    message = str(error.value)
    assert "\n" not in message and f"objective.rho={rho}" in message and f"dim={dim}" in message
    assert interval in message


@pytest.mark.parametrize(
    "rho,dim",
    [
        (-0.49, 3),
        (0.99, 3),
        (-0.11, 10),
        (-5.0, 1),
        (0.5, 1000),
    ],
)
def test_check_dim_accepts_a_positive_definite_a(rho: float, dim: int) -> None:
    Quadratic(rho).check_dim(dim)


@pytest.mark.parametrize("learned", SCALES)
def test_exact_terms_are_the_closed_forms(learned: str) -> None:
    objective, mu, sigma = point(3)
    sigma = scale_of(sigma, learned)
    terms = ESTIMATORS["exact"](objective, q_at(mu, sigma, learned, 2), 3)
    scale = objective.scale_gradient(mu, sigma, learned)
    expected = (
        objective.gradient(mu, sigma) if scale is None else torch.cat([objective.gradient(mu, sigma), scale])
    )
    assert terms.shape == (2, 3, expected.shape[-1])
    assert torch.equal(terms, expected.expand_as(terms))
