"""The squares: f1(x) = (x − k)² and x², with every closed form, the seed notebook's cost among them.

With d = θ − k, J1 = d² + σ², J1' = 2d, J1'' = 2, E[f1²] = d⁴ + 6d²σ² + 3σ⁴; the variances of each
estimator's terms follow (docs/maths.md, "The square" and "D dimensions"), and so do those of the
learned scale's terms, which only the squares have in closed form.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from reparam_opt.objectives.base import ObjectiveConfig, as_tensor, check_k
from reparam_opt.objectives.separable import Separable


@dataclass
class ShiftedSquareConfig(ObjectiveConfig):
    """f(x) = (x − k)²; any finite k."""

    _target_: str = "reparam_opt.objectives.ShiftedSquare"
    k: float = 1.0


class ShiftedSquare(Separable):
    """f(x) = (x − k)². With d = θ − k: J = d² + σ², ∇J = 2d, θ* = k, J* = σ²."""

    name = "shifted_square"
    schema = ShiftedSquareConfig

    def __init__(self, k: float = 1.0) -> None:
        self.k = float(k)
        self.theta_star = self.k

    def validate(self) -> None:
        check_k(self, positive=False)

    def curvature_free(self) -> bool:
        return True

    def second_order(self) -> bool:
        return True

    def f1(self, x: Tensor) -> Tensor:
        return (x - self.k).square()

    def value(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        return (theta - self.k).square() + sigma**2

    def grad(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        return 2.0 * (theta - self.k)

    def curvature(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        return torch.full_like(theta, 2.0)

    def second_moment(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        d2, s2 = (theta - self.k).square(), sigma**2
        return d2.square() + 6.0 * d2 * s2 + 3.0 * s2**2

    def per_sample_variances(self, theta: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        d2, s2 = (theta - self.k).square(), sigma**2
        return {
            "score": lambda: d2.square() / s2 + 14.0 * d2 + 15.0 * s2,
            "pathwise": lambda: torch.zeros_like(theta) + 4.0 * s2,
            "measure_valued": lambda: 4.0 * d2 * (4.0 - math.pi) / math.pi,
        }

    def antithetic_variances(self, mu: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        """An antithetic pair's mean term, per coordinate. Pathwise: 2(μ ± σε − k) average to 2d:
        variance 0. Score: [f(μ + σε) − f(μ − σε)]ε_i/(2σ_i) = 2ε_i Σ_j d_j σ_j ε_j / σ_i, whose
        variance is 8d_i² + 4 Σ_{j≠i} d_j² σ_j²/σ_i² (8d² in one dimension, the REFERENCE's 8μ²)."""
        d2 = (mu - self.k).square()
        s2 = as_tensor(sigma, mu) ** 2 + torch.zeros_like(d2)
        weighted = d2 * s2
        others = weighted.sum(-1, keepdim=True) - weighted
        return {
            "pathwise": lambda: torch.zeros_like(mu),
            "score": lambda: 8.0 * d2 + 4.0 * others / s2,
        }

    def scale_variances(
        self, theta: Tensor, sigma: Tensor | float, shared: bool
    ) -> dict[str, Callable[[], Tensor]]:
        """Variance of the s-terms summed over scale coordinates, for μ [..., D] (docs/maths.md).

        ``shared``: one s for every coordinate (σ the same in each); otherwise one s per coordinate.
        The measure-valued s-terms are independent across coordinates (the other coordinates cancel
        in each difference), each 2dσM(1 − U) + σ²M²(1 − U²) with E M² = 3, E M⁴ = 15.
        """
        d2, dim = (theta - self.k).square(), theta.shape[-1]
        s2 = as_tensor(sigma, theta) ** 2 + torch.zeros_like(d2)  # σ_i², [..., D]
        if shared:
            r, s2 = d2.sum(-1), s2[..., 0]
            return {
                "score": lambda: (
                    2.0 * dim * r.square()
                    + 4.0 * (dim + 2) * (dim + 4) * s2 * r
                    + 2.0 * dim * (dim**2 + 12 * dim + 24) * s2.square()
                ),
                "pathwise": lambda: 4.0 * s2 * r + 8.0 * dim * s2.square(),
                "measure_valued": lambda: 4.0 * s2 * r + 4.0 * dim * s2.square(),
            }
        mean = d2 + s2  # E f1(x_i)
        spread = 4.0 * d2 * s2 + 2.0 * s2.square()  # Var f1(x_i)
        others, others_spread = mean.sum(-1, keepdim=True) - mean, spread.sum(-1, keepdim=True) - spread
        return {
            "score": lambda: (
                2.0 * d2.square()
                + 60.0 * d2 * s2
                + 74.0 * s2.square()
                + 4.0 * others * (d2 + 5.0 * s2)
                + 2.0 * (others.square() + others_spread)
            ).sum(-1),
            "pathwise": lambda: (4.0 * d2 * s2 + 8.0 * s2.square()).sum(-1),
            "measure_valued": lambda: (4.0 * d2 * s2 + 4.0 * s2.square()).sum(-1),
        }

    def scale_covariances(
        self, theta: Tensor, sigma: Tensor | float, shared: bool
    ) -> dict[str, Callable[[], Tensor]]:
        """Cov(μ_i-term, s-term) per coordinate [..., D]: with the shared s, or with s_i (diagonal)."""
        d = theta - self.k
        d2, dim = d.square(), theta.shape[-1]
        s2 = as_tensor(sigma, theta) ** 2 + torch.zeros_like(d2)
        if shared:
            r = d2.sum(-1, keepdim=True)
            return {
                "score": lambda: (8.0 * r + 4.0 * (3 * dim + 8) * s2) * d,
                "pathwise": lambda: 4.0 * s2 * d,
            }
        mean = d2 + s2
        others = mean.sum(-1, keepdim=True) - mean
        return {
            "score": lambda: 8.0 * d * d2 + 44.0 * d * s2 + 8.0 * others * d,
            "pathwise": lambda: 4.0 * s2 * d,
        }


class Square(ShiftedSquare):
    """f(x) = x², the seed notebook's cost. J = θ² + σ², ∇J = 2θ, θ* = 0."""

    name = "square"
    schema = ObjectiveConfig  # no parameter

    def __init__(self) -> None:
        super().__init__(k=0.0)

    def validate(self) -> None:
        """No parameter to check."""

    def f1(self, x: Tensor) -> Tensor:
        return x.square()  # (x − 0)² would make one more pass over the samples
