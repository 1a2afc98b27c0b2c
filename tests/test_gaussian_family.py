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

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from reparam_opt import estimators, separable
from reparam_opt.estimators import ESTIMATORS
from reparam_opt.gaussian import Gaussian, GaussianFamily, at_point
from reparam_opt.objectives import ShiftedSquare
from tests.closed_forms import gaussian_grid

Z = 4.0  # standard errors allowed; with a fixed seed the test is deterministic
DTYPE = torch.float64
K = 0.5
COST = ShiftedSquare(K)
DIMS = [1, 3, 10]
SCALES = ["fixed", "shared", "diagonal"]
LEARNED = ["shared", "diagonal"]
N_SAMPLES = 10  # per replicate, for the estimators with independent terms
LOO_N = 3  # per replicate for the leave-one-out baseline in the mean test


# The test point, and draws at it.


def point(dim: int, scale: str) -> tuple[torch.Tensor, torch.Tensor]:
    """μ [D] and σ [D] of the test point.

    μ_i runs from −0.3 to 1.3, so d_i = μ_i − k from −0.8 to 0.8 (d = −0.8 in D = 1; in D = 3 the
    middle coordinate sits at d = 0). σ is 0.8 in every coordinate unless the scale is diagonal,
    where σ_i runs from 0.6 to 1.2.
    """
    mu = torch.linspace(-0.3, 1.3, dim, dtype=DTYPE)
    if scale == "diagonal":
        return mu, torch.linspace(0.6, 1.2, dim, dtype=DTYPE)
    return mu, torch.full((dim,), 0.8, dtype=DTYPE)


def sigma_arg(sigma: torch.Tensor, scale: str) -> torch.Tensor | float:
    """σ as the closed forms take it: a float when fixed, [1] when shared, [D] when diagonal."""
    if scale == "fixed":
        return float(sigma[0])
    return sigma[:1] if scale == "shared" else sigma


def gaussian(dim: int, scale: str, replicates: int) -> Gaussian:
    """q at the test point for every replicate, built directly (at_point has equal μ_i and σ_i)."""
    mu, sigma = point(dim, scale)
    loc = mu.expand(replicates, dim).clone()
    if scale == "fixed":
        return Gaussian(loc, torch.tensor(float(sigma[0]), dtype=DTYPE))
    width = 1 if scale == "shared" else dim
    return Gaussian(loc, sigma[:width].expand(replicates, width).clone(), scale)


def sample_size(name: str, dim: int) -> int:
    """Per-sample terms drawn per test: fewer where a term costs D evaluations of f (measure-valued)."""
    if dim == 10:
        return 20_000 if name == "measure_valued" else 60_000
    return 1_000_000 if dim == 1 else 300_000


def draw(name: str, dim: int, scale: str, replicates: int, n: int, seed: int = 0) -> torch.Tensor:
    """Terms [replicates, n, P] of estimator ``name`` at the test point."""
    torch.manual_seed(seed)
    return ESTIMATORS[name](COST, gaussian(dim, scale, replicates), n)


# REFERENCE.md's formulas, written out independently of the code.


def others(values: torch.Tensor) -> torch.Tensor:
    """Σ_{j≠i} values_j, per coordinate."""
    return values.sum(-1, keepdim=True) - values


def reference_mu_variances(name: str, d: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Variance of one μ-term, per coordinate (REFERENCE: "Per-sample variances", "D dimensions",
    and "Learnable scale" for a diagonal scale)."""
    s2, d2 = sigma.square(), d.square()
    if name == "pathwise":
        return 4.0 * s2
    if name == "measure_valued":
        return 4.0 * d2 * (4.0 - math.pi) / math.pi
    if name == "score":
        a, b = others(d2 + s2), others(4.0 * d2 * s2 + 2.0 * s2.square())
        return d2.square() / s2 + 14.0 * d2 + 15.0 * s2 + (2.0 * a * (d2 + 3.0 * s2) + a.square() + b) / s2
    if name == "exact":
        return torch.zeros_like(d)
    raise ValueError(name)


def reference_shared_score_mu_variances(d: torch.Tensor, sigma: float) -> torch.Tensor:
    """REFERENCE "D dimensions": Var h_i = r²/σ² + 2(D+4)r + 4d_i² + (D+2)(D+4)σ², one σ."""
    dim, r, s2 = d.shape[-1], d.square().sum(), sigma**2
    return r**2 / s2 + 2 * (dim + 4) * r + 4 * d.square() + (dim + 2) * (dim + 4) * s2


def reference_scale_variances(
    name: str, d: torch.Tensor, sigma: torch.Tensor, scale: str
) -> torch.Tensor | None:
    """Variance of each s-term: [1] for a shared s (σ equal), [D] per coordinate; None without a formula."""
    s2, d2, dim = sigma.square(), d.square(), d.shape[-1]
    if name == "measure_valued":  # per coordinate 2dσM(1−U) + σ²M²(1−U²): E M² = 3, E M⁴ = 15
        per_coordinate = 4.0 * d2 * s2 + 4.0 * s2.square()  # E(1−U)² = 1/3, E(1−U²)² = 8/15
        return per_coordinate.sum().reshape(1) if scale == "shared" else per_coordinate
    if scale == "shared":
        r, s2 = d2.sum(), s2[0]
        if name == "pathwise":
            return (4.0 * s2 * r + 8.0 * dim * s2.square()).reshape(1)
        if name == "score":
            value = (
                2 * dim * r**2
                + 4 * (dim + 2) * (dim + 4) * s2 * r
                + 2 * dim * (dim**2 + 12 * dim + 24) * s2**2
            )
            return value.reshape(1)
    elif scale == "diagonal":
        if name == "pathwise":
            return 4.0 * d2 * s2 + 8.0 * s2.square()
        if name == "score":
            a, b = others(d2 + s2), others(4.0 * d2 * s2 + 2.0 * s2.square())
            one_dim = 2.0 * d2.square() + 60.0 * d2 * s2 + 74.0 * s2.square()
            return one_dim + 4.0 * a * (d2 + 5.0 * s2) + 2.0 * (a.square() + b)
    if name == "exact":
        return torch.zeros(1 if scale == "shared" else dim, dtype=d.dtype)
    return None


def exact_gradient(d: torch.Tensor, sigma: torch.Tensor, scale: str) -> torch.Tensor:
    """∇ E_q f: 2d in μ; ∂/∂s_i = σ_i² · 2, summed for a shared s (REFERENCE: ∂J/∂s = 2Dσ²)."""
    parts = [2.0 * d]
    if scale == "shared":
        parts.append((2.0 * sigma.square()).sum().reshape(1))
    elif scale == "diagonal":
        parts.append(2.0 * sigma.square())
    return torch.cat(parts)


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
            separable.scale_grad(COST, mu, s, scale),
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


# 2. Every estimator's terms are unbiased, in μ and in s.


def mean_cases() -> list[tuple[str, int, str]]:
    gaussian = [name for name, e in ESTIMATORS.items() if e.applies_to("gaussian")]
    return [(name, dim, scale) for name in gaussian for dim in DIMS for scale in SCALES]


@pytest.mark.parametrize("name,dim,scale", mean_cases())
def test_terms_are_unbiased(name: str, dim: int, scale: str) -> None:
    """The mean of each μ- and s-coordinate's terms is ∇J within 4 standard errors.

    The standard error comes from REFERENCE's per-coordinate variance where there is one (score,
    pathwise, measure-valued μ; score and pathwise s) and from the leave-one-out closed form
    (checked against quadrature above) for the leave-one-out μ-terms. The leave-one-out and
    measure-valued s-terms have no closed-form variance: their standard error is the sample's own,
    from 20 000 or more independent units (the terms themselves for measure-valued; replicate
    means for leave-one-out, whose terms are correlated within a replicate), so it is itself
    known to within about 1–2%.
    """
    mu, sigma = point(dim, scale)
    d, size = mu - K, sample_size(name, dim)
    n = LOO_N if name == "score_baseline" else N_SAMPLES
    terms = draw(name, dim, scale, size // n, n)
    expected = exact_gradient(d, sigma, scale)
    assert terms.shape == (size // n, n, expected.numel())
    if name == "exact":
        assert torch.equal(terms, terms[:1, :1].expand_as(terms))  # zero variance
        torch.testing.assert_close(terms[0, 0], expected, rtol=1e-14, atol=1e-14)
        return
    replicate_means = terms.mean(-2)  # [R, P]: independent units whatever the estimator
    mean = replicate_means.mean(0)
    if name == "score_baseline":
        # n·Var(mean of n), per coordinate: each replicate's mean has variance (this)/n.
        loo = estimators.score_baseline
        per_coordinate = loo.closed_form(loo, COST, mu, sigma_arg(sigma, scale), n)
        mu_se = (per_coordinate / (n * replicate_means.shape[0])).sqrt()
    else:
        mu_se = (reference_mu_variances(name, d, sigma) / terms[..., 0].numel()).sqrt()
    scale_variances = reference_scale_variances(name, d, sigma, scale)
    if scale == "fixed":
        se = mu_se
    elif scale_variances is not None:
        se = torch.cat([mu_se, (scale_variances / terms[..., 0].numel()).sqrt()])
    else:
        units = replicate_means if name == "score_baseline" else terms.reshape(-1, terms.shape[-1])
        se = torch.cat([mu_se, units[:, dim:].std(0) / math.sqrt(units.shape[0])])
    # 1e-12: float64 rounding, for the measure-valued terms at d_i = 0, which are 0 up to rounding.
    z = (mean - expected).abs() / se
    assert bool(((mean - expected).abs() < Z * se + 1e-12).all()), f"z-scores {z.tolist()}"


# 3. Closed-form variances and covariances against Monte Carlo.


def trace_and_se(units: torch.Tensor) -> tuple[float, float]:
    """The sample covariance trace of independent rows [N, C], and its standard error from the sample.

    trace = Σ_c Var_c = mean over rows of Y = ‖row − mean‖² (× N/(N−1)); the rows are independent,
    so its standard error is std(Y)/√N, which estimates the fourth moments from the sample.
    """
    centred = units - units.mean(0)
    y = centred.square().sum(-1)
    size = units.shape[0]
    return float(y.sum() / (size - 1)), float(y.std() / math.sqrt(size))


def covariance_and_se(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per column, the sample covariance of a and b [N, C], and its standard error from the sample:
    std(Y)/√N with Y = (a − ā)(b − b̄)."""
    y = (a - a.mean(0)) * (b - b.mean(0))
    size = a.shape[0]
    return y.sum(0) / (size - 1), y.std(0) / math.sqrt(size)


@pytest.mark.parametrize("name", ["score", "pathwise", "measure_valued"])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("scale", SCALES)
def test_mu_trace_matches_monte_carlo(name: str, dim: int, scale: str) -> None:
    mu, sigma = point(dim, scale)
    terms = draw(name, dim, scale, sample_size(name, dim) // N_SAMPLES, N_SAMPLES, seed=1)
    measured, se = trace_and_se(terms[..., :dim].reshape(-1, dim))
    expected = float(ESTIMATORS[name].closed_form_variance(COST, mu, sigma_arg(sigma, scale), N_SAMPLES))
    assert abs(measured - expected) < Z * se, (measured, expected, se)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("scale", SCALES)
def test_leave_one_out_trace_matches_monte_carlo(n: int, dim: int, scale: str) -> None:
    """n × the trace of the covariance of the n-sample estimate, over independent replicates."""
    mu, sigma = point(dim, scale)
    replicates = 100_000 if dim < 10 else 25_000
    estimate = draw("score_baseline", dim, scale, replicates, n, seed=2)[..., :dim].mean(-2)
    measured, se = trace_and_se(estimate)
    expected = float(estimators.score_baseline.closed_form_variance(COST, mu, sigma_arg(sigma, scale), n))
    assert abs(n * measured - expected) < Z * n * se, (n * measured, expected, n * se)


@pytest.mark.parametrize("name", ["score", "pathwise", "measure_valued"])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("scale", LEARNED)
def test_scale_variance_matches_monte_carlo(name: str, dim: int, scale: str) -> None:
    mu, sigma = point(dim, scale)
    terms = draw(name, dim, scale, sample_size(name, dim) // N_SAMPLES, N_SAMPLES, seed=3)
    s_terms = terms[..., dim:].reshape(-1, terms.shape[-1] - dim)
    measured, se = trace_and_se(s_terms)
    expected = float(ESTIMATORS[name].closed_form_scale_variance(COST, mu, sigma_arg(sigma, scale), scale))
    assert abs(measured - expected) < Z * se, (measured, expected, se)


def test_estimators_without_a_scale_closed_form_say_so() -> None:
    mu, sigma = point(3, "diagonal")
    for name in ("score_baseline",):
        for scale in LEARNED:
            assert (
                ESTIMATORS[name].closed_form_scale_variance(COST, mu, sigma_arg(sigma, scale), scale) is None
            )
    assert estimators.score.closed_form_scale_variance(COST, mu, 0.8, "fixed") is None
    assert estimators.score_baseline.closed_form_variance(COST, mu, sigma, 1) is None  # needs n ≥ 2


@pytest.mark.parametrize("name", ["score", "pathwise"])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("scale", LEARNED)
def test_scale_covariances_match_monte_carlo(name: str, dim: int, scale: str) -> None:
    """Cov(μ_i-term, s-term) per coordinate: with the shared s, or with s_i (diagonal)."""
    mu, sigma = point(dim, scale)
    terms = draw(name, dim, scale, sample_size(name, dim) // N_SAMPLES, N_SAMPLES, seed=4).reshape(
        -1, dim + (1 if scale == "shared" else dim)
    )
    mu_terms, s_terms = terms[:, :dim], terms[:, dim:]
    measured, se = covariance_and_se(mu_terms, s_terms.expand_as(mu_terms))
    expected = COST.scale_covariances(mu, sigma_arg(sigma, scale), shared=scale == "shared")[name]()
    z = (measured - expected).abs() / se
    assert bool((z < Z).all()), f"z-scores {z.tolist()}"


# The entropy term.


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
