"""f1(x) = exp(−kx²): a bump whose pathwise gradient can lose to the score function's (Mohamed et
al. 2020, §3; a = 1 + 4kσ², b = 1 + 2kσ² below). Its measure-valued variance has no closed form here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from reparam_opt.objectives.base import ObjectiveConfig, as_tensor, check_k
from reparam_opt.objectives.separable import Separable


@dataclass
class GaussianBumpConfig(ObjectiveConfig):
    """f(x) = exp(−kx²); k > 0."""

    _target_: str = "reparam_opt.objectives.GaussianBump"
    k: float = 1.0


class GaussianBump(Separable):
    """f(x) = exp(−kx²), a bump with its MAXIMUM at 0: J = b^(−1/2) exp(−kθ²/b).

    J > 0 falls towards its infimum 0 as |θ| → ∞ and never reaches it, so there is no θ*:
    training on it runs (θ drifts outwards ever more slowly), but ``theta/rms_error`` and the
    metrics built on θ* are not reported. The cost is here for the variance comparison.
    """

    name = "gaussian_bump"
    schema = GaussianBumpConfig
    theta_star = None

    def __init__(self, k: float = 1.0) -> None:
        self.k = float(k)

    def validate(self) -> None:
        check_k(self, positive=True)

    def f1(self, x: Tensor) -> Tensor:
        return torch.exp(-self.k * x.square())

    def value(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        b = 1.0 + 2.0 * self.k * as_tensor(sigma, theta) ** 2
        return b.rsqrt() * torch.exp(-self.k * theta.square() / b)

    def grad(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        b = 1.0 + 2.0 * self.k * as_tensor(sigma, theta) ** 2
        return -2.0 * self.k * theta / b * self.value(theta, sigma)

    def curvature(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        b = 1.0 + 2.0 * self.k * as_tensor(sigma, theta) ** 2
        return self.value(theta, sigma) * (4.0 * self.k**2 * theta.square() / b.square() - 2.0 * self.k / b)

    def second_moment(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        a = 1.0 + 4.0 * self.k * as_tensor(sigma, theta) ** 2
        return a.rsqrt() * torch.exp(-2.0 * self.k * theta.square() / a)

    def per_sample_variances(self, theta: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        k, s2 = self.k, as_tensor(sigma, theta) ** 2
        a = 1.0 + 4.0 * k * s2
        decay = torch.exp(-2.0 * k * theta.square() / a) / a**2.5
        g2 = self.grad(theta, sigma).square()
        return {
            "score": lambda: (1.0 + 4.0 * k * s2 + 16.0 * k**2 * theta.square() * s2) * decay / s2 - g2,
            "pathwise": lambda: 4.0 * k**2 * (theta.square() + s2 * a) * decay - g2,
        }
