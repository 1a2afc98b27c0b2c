"""The Gaussian-family test cases shared by the closed-form and Monte Carlo tests: the points,
the draws, and REFERENCE.md's formulas written out independently of the library."""

from __future__ import annotations

import math

import torch

from reparam_opt.estimators import ESTIMATORS
from reparam_opt.families.gaussian import Gaussian
from reparam_opt.objectives import Cosine, GaussianBump, Objective, ShiftedSquare

Z = 4.0  # standard errors allowed; with a fixed seed the test is deterministic
DTYPE = torch.float64
K = 0.5
COST = ShiftedSquare(K)
#: The costs without a square's closed forms for the scale: their μ-variances in D dimensions come
#: from the one-dimensional ones and Stein's identity (``reparam_opt/objectives/separable.py``). k ≠ 1, so a
#: k that should be squared and is not shows.
OTHER_COSTS = {"cosine": Cosine(2.0), "gaussian_bump": GaussianBump(0.5)}
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


def draw(
    name: str, dim: int, scale: str, replicates: int, n: int, seed: int = 0, cost: Objective = COST
) -> torch.Tensor:
    """Terms [replicates, n, P] of estimator ``name`` at the test point, on ``cost`` (the shifted square)."""
    torch.manual_seed(seed)
    return ESTIMATORS[name](cost, gaussian(dim, scale, replicates), n)


# REFERENCE.md's formulas, written out independently of the code.


def others(values: torch.Tensor) -> torch.Tensor:
    """Σ_{j≠i} values_j, per coordinate."""
    return values.sum(-1, keepdim=True) - values


#: The estimators of the whole J_λ, whose terms at their default λ = 0 are pathwise's (tests/test_stl.py
#: holds them at λ = 1).
PATHWISE_AT_NO_ENTROPY = ("trace_elbo", "stl")


def reference_mu_variances(name: str, d: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Variance of one μ-term, per coordinate (REFERENCE: "Per-sample variances", "D dimensions",
    and "Learnable scale" for a diagonal scale)."""
    name = "pathwise" if name in PATHWISE_AT_NO_ENTROPY else name
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
    name = "pathwise" if name in PATHWISE_AT_NO_ENTROPY else name
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
