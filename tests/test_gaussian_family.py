"""The Gaussian family in D dimensions with a learnable scale, against REFERENCE.md's closed forms.

f(x) = ‖x − k‖² (``ShiftedSquare``), x ~ N(μ, diag σ²), d = μ − k. Three kinds of check:

1. Exact: the code's closed forms equal the formulas of REFERENCE.md ("D dimensions", "Learnable
   scale"), written out again here, and tensor-product Gauss–Hermite quadrature of the per-sample
   terms (exact for these polynomials) at unequal d_i and σ_i.
2. Unbiased: the mean of every estimator's μ- and s-terms is ∇J (μ: 2d; s: σ_i² J'' = 2σ_i²,
   summed for a shared s), within Z = 4 standard errors from the closed-form variance.
3. Variances and covariances: Monte Carlo against every closed form the code returns, within 4
   standard errors. The standard error of a sample variance (or covariance) needs fourth
   moments; for D = 10 no quadrature is cheap, so it is estimated from the sample itself: the
   sample trace is (up to the O(1/N) centring) the mean of Y = ‖t − t̄‖² over N independent
   terms, and its standard error is std(Y)/√N.

Every draw has a fixed seed, so each test is deterministic.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from reparam_opt import estimators
from reparam_opt.estimators import ESTIMATORS
from reparam_opt.families.gaussian import GaussianFamily, at_point
from tests.closed_forms import gaussian_grid
from tests.gaussian_cases import (
    COST,
    DIMS,
    DTYPE,
    LEARNED,
    OTHER_COSTS,
    SCALES,
    K,
    exact_gradient,
    point,
    reference_mu_variances,
    reference_scale_variances,
    reference_shared_score_mu_variances,
    sigma_arg,
)

# 1. Exact algebra: the code's closed forms against REFERENCE.md and quadrature.


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("scale", SCALES)
def test_closed_forms_equal_the_reference_formulas(dim: int, scale: str) -> None:
    mu, sigma = point(dim, scale)
    d, s = mu - K, sigma_arg(sigma, scale)
    for name in ("score", "pathwise", "measure_valued", "exact"):
        code = ESTIMATORS[name].closed_form_variance(COST, mu, s)
        assert float(code) == pytest.approx(float(reference_mu_variances(name, d, sigma).sum()), rel=1e-12)
        if scale != "fixed":
            scale_code = ESTIMATORS[name].closed_form_scale_variance(COST, mu, s, scale)
            reference = reference_scale_variances(name, d, sigma, scale)
            assert float(scale_code) == pytest.approx(float(reference.sum()), rel=1e-12)
    if scale != "diagonal":  # one σ: REFERENCE's own D-dimensional form of the score μ-variance
        assert float(estimators.score.closed_form_variance(COST, mu, s)) == pytest.approx(
            float(reference_shared_score_mu_variances(d, float(sigma[0])).sum()), rel=1e-12
        )
    if scale != "fixed":
        torch.testing.assert_close(
            COST.scale_gradient(mu, s, scale),
            exact_gradient(d, sigma, scale)[dim:],
            rtol=1e-14,
            atol=0,
        )


@pytest.mark.parametrize("scale", LEARNED)
@pytest.mark.parametrize("d,sigma", [(0.0, 1.0), (2.0, 1.0), (-0.7, 0.3), (1.5, 2.0)])
def test_one_dimensional_scale_variances_are_the_reference_numbers(
    scale: str, d: float, sigma: float
) -> None:
    """REFERENCE "Learnable scale": Var g_s = 4d²σ² + 8σ⁴, Var h_s = 2d⁴ + 60d²σ² + 74σ⁴ (D = 1)."""
    mu = torch.tensor([K + d], dtype=DTYPE)
    s = torch.tensor([sigma], dtype=DTYPE)
    pathwise = estimators.pathwise.closed_form_scale_variance(COST, mu, s, scale)
    score = estimators.score.closed_form_scale_variance(COST, mu, s, scale)
    assert float(pathwise) == pytest.approx(4 * d**2 * sigma**2 + 8 * sigma**4, rel=1e-12)
    assert float(score) == pytest.approx(2 * d**4 + 60 * d**2 * sigma**2 + 74 * sigma**4, rel=1e-12)


def test_score_trace_at_the_optimum_and_its_ratio_to_pathwise() -> None:
    """REFERENCE: at d = 0 the score μ-trace is Dσ²(D+2)(D+4), 3.75, 42 and 2652 times pathwise's
    4Dσ² at D = 1, 10, 100."""
    sigma = 0.7
    ratios = {}
    for dim in (1, 3, 10, 100):
        mu = torch.full((dim,), K, dtype=DTYPE)
        score = float(estimators.score.closed_form_variance(COST, mu, sigma))
        pathwise = float(estimators.pathwise.closed_form_variance(COST, mu, sigma))
        assert score == pytest.approx(dim * sigma**2 * (dim + 2) * (dim + 4), rel=1e-12)
        assert pathwise == pytest.approx(4 * dim * sigma**2, rel=1e-12)
        ratios[dim] = score / pathwise
    assert ratios[1] == pytest.approx(3.75, rel=1e-12)
    assert ratios[10] == pytest.approx(42.0, rel=1e-12)
    assert ratios[100] == pytest.approx(2652.0, rel=1e-12)


@pytest.mark.parametrize("dim", [1, 2, 3, 10, 40])
def test_diagonal_scale_variances_add_up_to_the_shared_one(dim: int) -> None:
    """With every σ_i equal, Σ_i h_{s_i} is the shared s-term f·(Q − D), so Var(shared) = Σ_i Var h_{s_i}
    + Σ_{i≠j} Cov(h_{s_i}, h_{s_j}) with Cov = 4σ_i²σ_j² (REFERENCE); pathwise's are uncorrelated."""
    sigma = 0.9
    mu = torch.linspace(-1.0, 2.0, dim, dtype=DTYPE)
    s = torch.full((dim,), sigma, dtype=DTYPE)
    for name, cross in (("score", 4 * sigma**4 * dim * (dim - 1)), ("pathwise", 0.0)):
        diagonal = float(ESTIMATORS[name].closed_form_scale_variance(COST, mu, s, "diagonal"))
        shared = float(ESTIMATORS[name].closed_form_scale_variance(COST, mu, s[:1], "shared"))
        assert diagonal + cross == pytest.approx(shared, rel=1e-12)


def quadrature_terms(d: np.ndarray, sigma: np.ndarray, eps: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per-sample terms at the nodes ε, as REFERENCE writes them: [nodes, P] for μ, diagonal s, shared s."""
    x = [di + si * e for di, si, e in zip(d, sigma, eps)]  # x − k per coordinate
    f = sum(xi**2 for xi in x)
    return {
        "pathwise_mu": np.stack([2 * xi for xi in x], -1),
        "pathwise_s": np.stack([2 * xi * si * e for xi, si, e in zip(x, sigma, eps)], -1),
        "score_mu": np.stack([f * e / si for si, e in zip(sigma, eps)], -1),
        "score_s": np.stack([f * (e**2 - 1) for e in eps], -1),
    }


def weighted_cov(weights: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Covariance of the columns of a and b under the quadrature weights, [columns]."""
    a = a - weights @ a
    b = b - weights @ b
    return weights @ (a * b)


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_closed_forms_match_quadrature_at_unequal_coordinates(dim: int) -> None:
    """Gauss–Hermite with 8 nodes a coordinate integrates these degree ≤ 8 polynomials exactly."""
    d = np.array([-0.8, 0.3, 1.1][:dim])
    sigma = np.array([0.6, 1.3, 0.9][:dim])
    eps, weights = gaussian_grid(dim, nodes=8)
    terms = quadrature_terms(d, sigma, eps)
    mu_t, sigma_t = torch.tensor(d + K), torch.tensor(sigma)
    for name in ("pathwise", "score"):
        mu_terms, s_terms = terms[f"{name}_mu"], terms[f"{name}_s"]
        np.testing.assert_allclose(weights @ mu_terms, 2 * d, atol=1e-12)
        np.testing.assert_allclose(weights @ s_terms, 2 * sigma**2, atol=1e-12)
        mu_var = weighted_cov(weights, mu_terms, mu_terms)
        code = ESTIMATORS[name].closed_form_variance(COST, mu_t, sigma_t)
        assert float(code) == pytest.approx(mu_var.sum(), rel=1e-10)
        s_var = weighted_cov(weights, s_terms, s_terms)
        code = ESTIMATORS[name].closed_form_scale_variance(COST, mu_t, sigma_t, "diagonal")
        assert float(code) == pytest.approx(s_var.sum(), rel=1e-10)
        covariance = COST.scale_covariances(mu_t, sigma_t, shared=False)[name]()
        np.testing.assert_allclose(covariance.numpy(), weighted_cov(weights, mu_terms, s_terms), rtol=1e-10)
        # The s-terms' cross-covariances: 4σ_i²σ_j² for score, 0 for pathwise (REFERENCE).
        total = s_terms.sum(-1)
        cross = weighted_cov(weights, total[:, None], total[:, None])[0] - s_var.sum()
        expected = 4 * ((sigma**2).sum() ** 2 - (sigma**4).sum()) if name == "score" else 0.0
        assert cross == pytest.approx(expected, rel=1e-10, abs=1e-10)
    # A shared s: every σ_i equal, the s-term is the sum of the diagonal ones.
    shared_sigma = np.full(dim, 0.8)
    terms = quadrature_terms(d, shared_sigma, eps)
    shared_t = torch.tensor(shared_sigma[:1])
    for name in ("pathwise", "score"):
        mu_terms, s_term = terms[f"{name}_mu"], terms[f"{name}_s"].sum(-1, keepdims=True)
        code = ESTIMATORS[name].closed_form_scale_variance(COST, mu_t, shared_t, "shared")
        assert float(code) == pytest.approx(weighted_cov(weights, s_term, s_term)[0], rel=1e-10)
        covariance = COST.scale_covariances(mu_t, shared_t, shared=True)[name]()
        np.testing.assert_allclose(
            covariance.numpy(), weighted_cov(weights, mu_terms, np.repeat(s_term, dim, -1)), rtol=1e-10
        )


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_mu_covariance_matrix_matches_quadrature(dim: int) -> None:
    """The whole covariance matrix of the μ-terms: per-coordinate variances on the diagonal
    (``Separable.term_variances``), ``term_covariances`` off it: REFERENCE "D dimensions",
    Cov(h_i, h_j) = 4d_i d_j for score, 0 for pathwise. REFERENCE states it for one σ; it holds with
    σ_i unequal too. Gauss–Hermite with 8 nodes a coordinate is exact for these polynomials."""
    d = np.array([-0.8, 0.3, 1.1][:dim])
    eps, weights = gaussian_grid(dim, nodes=8)
    mu_t = torch.tensor(d + K)
    for sigma in (np.array([0.6, 1.3, 0.9][:dim]), np.full(dim, 0.8)):
        terms = quadrature_terms(d, sigma, eps)
        sigma_t = torch.tensor(sigma)
        for name in ("pathwise", "score"):
            centred = terms[f"{name}_mu"] - weights @ terms[f"{name}_mu"]
            quadrature = centred.T @ (weights[:, None] * centred)  # [D, D]
            code = torch.diag(COST.term_variances(name, mu_t, sigma_t))
            code = code + COST.term_covariances(mu_t, sigma_t)[name]()
            np.testing.assert_allclose(code.numpy(), quadrature, rtol=1e-10, atol=1e-10)
            if name == "score":  # and REFERENCE's own words, off the diagonal
                off = ~np.eye(dim, dtype=bool)
                np.testing.assert_allclose(quadrature[off], (4 * np.outer(d, d))[off], rtol=1e-10)


@pytest.mark.parametrize("dim,n", [(2, 2), (3, 2), (2, 3)])
def test_leave_one_out_closed_form_matches_quadrature_in_d_dimensions(dim: int, n: int) -> None:
    """n·Var of the n-sample leave-one-out estimate, summed over μ, by (n·D)-dimensional quadrature."""
    d = np.array([-0.8, 0.3, 1.1][:dim])
    sigma = np.array([0.6, 1.3, 0.9][:dim])
    eps, weights = gaussian_grid(n * dim, nodes=5)  # degree 6 per variable: 4 nodes are exact
    samples = [eps[i * dim : (i + 1) * dim] for i in range(n)]
    f = [sum((di + si * e) ** 2 for di, si, e in zip(d, sigma, sample)) for sample in samples]
    total = sum(f)
    estimate = (
        sum(
            np.stack([(f[i] - (total - f[i]) / (n - 1)) * e / si for si, e in zip(sigma, samples[i])], -1)
            for i in range(n)
        )
        / n
    )
    np.testing.assert_allclose(weights @ estimate, 2 * d, atol=1e-12)
    variance = weighted_cov(weights, estimate, estimate).sum()
    code = estimators.score_baseline.closed_form_variance(COST, torch.tensor(d + K), torch.tensor(sigma), n)
    assert float(code) == pytest.approx(n * variance, rel=1e-10)


def test_estimators_without_a_scale_closed_form_say_so() -> None:
    mu, sigma = point(3, "diagonal")
    for name in ("score_baseline",):
        for scale in LEARNED:
            assert (
                ESTIMATORS[name].closed_form_scale_variance(COST, mu, sigma_arg(sigma, scale), scale) is None
            )
    assert estimators.score.closed_form_scale_variance(COST, mu, 0.8, "fixed") is None
    assert estimators.score_baseline.closed_form_variance(COST, mu, sigma, 1) is None  # needs n ≥ 2


@pytest.mark.parametrize("objective", sorted(OTHER_COSTS))
@pytest.mark.parametrize("scale", SCALES)
def test_off_the_square_closed_forms_exist_only_where_derived(objective: str, scale: str) -> None:
    """cosine and gaussian_bump at D = 3: a μ-variance for score, pathwise and leave-one-out (tested
    against Monte Carlo in test_gaussian_monte_carlo.py), none for measure-valued and none for any
    estimator's s-terms but exact's zero; a run logs no number for those (test_gaussian_training.py)."""
    cost = OTHER_COSTS[objective]
    mu, sigma = point(3, scale)
    s = sigma_arg(sigma, scale)
    for name, n in (("score", 1), ("pathwise", 1), ("score_baseline", 3)):
        value = ESTIMATORS[name].closed_form_variance(cost, mu, s, n)
        assert value is not None and bool(torch.isfinite(value)) and float(value) > 0, name
    assert estimators.measure_valued.closed_form_variance(cost, mu, s) is None
    for name in ("score", "score_baseline", "pathwise", "measure_valued"):
        assert ESTIMATORS[name].closed_form_scale_variance(cost, mu, s, scale) is None, name
    exact = estimators.exact.closed_form_scale_variance(cost, mu, s, scale)
    if scale == "fixed":
        assert exact is None
    else:
        assert float(exact) == 0.0


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("weight", [0.0, 1.0, 0.37])
def test_entropy_gradient_is_autograd_of_minus_weight_times_entropy(
    dim: int, scale: str, weight: float
) -> None:
    """−λ per diagonal s_i and −λD for a shared s: autograd of −λ Σ_i H(N(μ_i, σ_i²)), torch's own entropy."""
    family = GaussianFamily(dim=dim, scale=scale, entropy_weight=weight, sigma=0.8)
    torch.manual_seed(5)
    theta = torch.randn(4, family.params, dtype=DTYPE, requires_grad=True)
    grad = family.entropy_grad(theta.detach())
    if weight == 0 or scale == "fixed":
        assert grad is None
        return
    loc, log_scale = theta[:, :dim], theta[:, dim:]
    normal = Normal(loc, log_scale.exp().expand_as(loc))
    entropy = normal.entropy().sum(-1)  # Σ_i log σ_i + (D/2) log 2πe
    (autograd,) = torch.autograd.grad(-weight * entropy.sum(), theta)
    torch.testing.assert_close(grad.expand_as(autograd), autograd, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(
        family.entropy(log_scale.detach().exp()), entropy.detach(), rtol=1e-12, atol=1e-12
    )


def test_entropy_of_a_fixed_scale_is_a_number() -> None:
    family = GaussianFamily(dim=3, sigma=0.8)
    expected = float(Normal(torch.zeros(3, dtype=DTYPE), torch.full((3,), 0.8, dtype=DTYPE)).entropy().sum())
    assert family.entropy(0.8) == pytest.approx(expected, rel=1e-14)


def test_at_point_builds_every_scale_mode() -> None:
    """``at_point``: every μ_i at θ and every σ at σ, shaped by the scale mode."""
    for scale, width in (("fixed", None), ("shared", 1), ("diagonal", 4)):
        q = at_point(5, 4, 1.5, 0.7, learned=scale, dtype=DTYPE)
        assert torch.equal(q.loc, torch.full((5, 4), 1.5, dtype=DTYPE))
        assert q.scale.shape == (() if width is None else (5, width))
        assert bool((q.scale == 0.7).all())
        assert q.scale_params == (0 if width is None else width)
