"""f1(x) = cos(kx): minima at odd multiples of π/k, and a pathwise variance that oscillates with θ."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from reparam_opt.objectives.base import ObjectiveConfig, Optimum, as_tensor, check_k
from reparam_opt.objectives.separable import Separable


@dataclass
class CosineConfig(ObjectiveConfig):
    """f(x) = cos(kx); k > 0."""

    _target_: str = "reparam_opt.objectives.Cosine"
    k: float = 1.0


class Cosine(Separable):
    """f(x) = cos(kx): J = cos(kθ) exp(−k²σ²/2), minima at θ = (2m + 1)π/k, all with J* = −exp(−k²σ²/2).

    θ* is the minimum nearest θ0. It is also the one the exact-gradient run reaches, since each
    minimum's basin runs between the maxima at 2mπ/k on either side. From a maximum (kθ0/π even)
    two minima are equally near and the exact gradient is zero: then there is no θ*.
    """

    name = "cosine"
    schema = CosineConfig
    theta_star = None  # depends on θ0: see ``optimum``

    def __init__(self, k: float = 1.0) -> None:
        self.k = float(k)

    def validate(self) -> None:
        check_k(self, positive=True)

    def optimum(self, theta0: float, sigma: float) -> Optimum | None:
        half_turns = self.k * theta0 / math.pi  # minima at odd values, maxima at even ones
        if math.isclose(half_turns / 2.0, round(half_turns / 2.0), rel_tol=0.0, abs_tol=1e-12):
            return None
        m = round((half_turns - 1.0) / 2.0)
        return Optimum((2 * m + 1) * math.pi / self.k, -math.exp(-((self.k * sigma) ** 2) / 2.0))

    def f1(self, x: Tensor) -> Tensor:
        return torch.cos(self.k * x)

    def _damping(self, theta: Tensor, sigma: Tensor | float, power: float = 1.0) -> Tensor:
        """exp(−power·k²σ²/2)."""
        return torch.exp(-power * (self.k * as_tensor(sigma, theta)) ** 2 / 2.0)

    def value(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        return torch.cos(self.k * theta) * self._damping(theta, sigma)

    def grad(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        return -self.k * torch.sin(self.k * theta) * self._damping(theta, sigma)

    def curvature(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        return -(self.k**2) * self.value(theta, sigma)

    def second_moment(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        return (1.0 + torch.cos(2.0 * self.k * theta) * self._damping(theta, sigma, 4.0)) / 2.0

    def per_sample_variances(self, theta: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        k, s2 = self.k, as_tensor(sigma, theta) ** 2
        cos2, sin2 = torch.cos(2.0 * k * theta), torch.sin(k * theta).square()
        damp2, damp4 = self._damping(theta, sigma, 2.0), self._damping(theta, sigma, 4.0)
        return {
            "score": lambda: (
                (1.0 + cos2 * (1.0 - 4.0 * k**2 * s2) * damp4) / (2.0 * s2) - k**2 * sin2 * damp2
            ),
            "pathwise": lambda: k**2 * ((1.0 - cos2 * damp4) / 2.0 - sin2 * damp2),
        }

    def antithetic_variances(self, mu: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        """Pathwise: the pair's terms −k sin(k(μ ± σε)) average to −k sin(kμ) cos(kσε), whose
        variance is k² sin²(kμ)[½(1 + e^{−2k²σ²}) − e^{−k²σ²}] per coordinate (each term sees its
        own coordinate only). Antithetic pairs cancel the odd part and double the even part, so
        here they can raise the variance above an independent pair's."""
        k, sin2 = self.k, torch.sin(self.k * mu).square()
        damp2, damp4 = self._damping(mu, sigma, 2.0), self._damping(mu, sigma, 4.0)
        return {"pathwise": lambda: k**2 * sin2 * ((1.0 + damp4) / 2.0 - damp2)}
