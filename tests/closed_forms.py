"""Moments of a per-sample gradient term h(ε), ε ~ N(0,1), by Gauss–Hermite quadrature.

For the polynomial costs here the quadrature is exact, so the fourth central moment that a
variance test's standard error needs comes from the closed form, not from the sample.
"""

from __future__ import annotations

import math
from typing import Callable

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
    """h(ε) for f(x) = x² and x = θ + σε, as REFERENCE.md writes each estimator's term."""
    if estimator == "score":
        return lambda e: (theta + sigma * e) ** 2 * e / sigma
    if estimator == "pathwise":
        return lambda e: 2 * (theta + sigma * e)
    raise ValueError(estimator)
