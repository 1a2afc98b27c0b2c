"""Moments of a per-sample gradient term h(ε), ε ~ N(0,1), by Gauss–Hermite quadrature.

For the polynomial costs here the quadrature is exact, so the fourth central moment that a
variance test's standard error needs comes from the closed form, not from the sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def central_moments(h: Callable[[np.ndarray], np.ndarray], nodes: int = 80) -> tuple[float, float, float]:
    """Mean, variance and fourth central moment of h(ε)."""
    eps, weights = np.polynomial.hermite_e.hermegauss(nodes)
    weights = weights / math.sqrt(2 * math.pi)
    values = h(eps)
    mean = float(weights @ values)
    var = float(weights @ (values - mean) ** 2)
    m4 = float(weights @ (values - mean) ** 4)
    return mean, var, m4


def square_terms(estimator: str, theta: float, sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    """h(ε) for f(x) = x² and x = θ + σε, as docs/maths.md writes each estimator's term."""
    if estimator == "score":
        return lambda e: (theta + sigma * e) ** 2 * e / sigma
    if estimator == "pathwise":
        return lambda e: 2 * (theta + sigma * e)
    raise ValueError(estimator)


def rayleigh_moments(h: Callable[[np.ndarray], np.ndarray], nodes: int = 400) -> tuple[float, float, float]:
    """Mean, variance and fourth central moment of h(w), w ~ Weibull(scale √2, shape 2) = Rayleigh(1).

    Gauss–Legendre on [0, 16] against the density w·exp(−w²/2); the mass beyond 16 is e^(−128).
    """
    u, weights = np.polynomial.legendre.leggauss(nodes)
    w = 8.0 * (u + 1.0)
    weights = 8.0 * weights * w * np.exp(-(w**2) / 2)
    values = h(w)
    mean = float(weights @ values)
    var = float(weights @ (values - mean) ** 2)
    m4 = float(weights @ (values - mean) ** 4)
    return mean, var, m4


def gaussian_grid(dims: int, nodes: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Tensor-product Gauss–Hermite nodes ε_1..ε_dims and weights for dims independent N(0, 1)."""
    eps, weights = np.polynomial.hermite_e.hermegauss(nodes)
    weights = weights / math.sqrt(2 * math.pi)
    grids = np.meshgrid(*([eps] * dims), indexing="ij")
    weight = np.ones_like(grids[0])
    for axis_weights in np.meshgrid(*([weights] * dims), indexing="ij"):
        weight = weight * axis_weights
    return [g.ravel() for g in grids], weight.ravel()


def leave_one_out_estimate(
    f: Callable[[np.ndarray], np.ndarray], theta: float, sigma: float, eps: list[np.ndarray]
):
    """The n-sample leave-one-out estimate and its terms, as docs/maths.md writes them, at nodes ε_1..ε_n."""
    n = len(eps)
    fx = [f(theta + sigma * e) for e in eps]
    total = sum(fx)
    terms = [(fx[i] - (total - fx[i]) / (n - 1)) * eps[i] / sigma for i in range(n)]
    return sum(terms) / n, terms
