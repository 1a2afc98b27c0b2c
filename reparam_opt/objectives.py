"""Cost functions f(x) and, where they exist, the closed forms of J, its gradient and variances.

An objective is a callable f; everything else is optional. A method that returns ``None``
means "no closed form", and the caller simply does not report the analytic value.
"""

from __future__ import annotations

import torch
from torch import Tensor


class Objective:
    """Base class: override ``__call__``; override the closed forms only where they are known."""

    #: The minimiser θ* of J, used for ``theta/rms_error`` and ``steps_to_tolerance``.
    theta_star: float = 0.0

    def __call__(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def value(self, theta: Tensor, sigma: Tensor | float) -> Tensor | None:
        """J(θ) = E_{x~N(θ,σ²)}[f(x)], or None without a closed form."""
        return None

    def grad(self, theta: Tensor, sigma: Tensor | float) -> Tensor | None:
        """∇J(θ), or None without a closed form."""
        return None

    def grad_variance(self, estimator: str, theta: Tensor, sigma: Tensor | float) -> Tensor | None:
        """Per-sample variance of ``estimator``'s gradient term at θ, or None without a closed form."""
        return None


class Square(Objective):
    """f(x) = x², the seed notebook's cost. J = θ² + σ², ∇J = 2θ, θ* = 0."""

    theta_star = 0.0

    def __call__(self, x: Tensor) -> Tensor:
        return x.square()

    def value(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        return theta.square() + sigma**2

    def grad(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        return 2.0 * theta

    def grad_variance(self, estimator: str, theta: Tensor, sigma: Tensor | float) -> Tensor | None:
        d2 = theta.square()
        s2 = sigma**2
        variances = {
            "score": lambda: d2.square() / s2 + 14.0 * d2 + 15.0 * s2,
            "pathwise": lambda: torch.zeros_like(theta) + 4.0 * s2,
            "exact": lambda: torch.zeros_like(theta),
        }
        closed_form = variances.get(estimator)
        return None if closed_form is None else closed_form()
