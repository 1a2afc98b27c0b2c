"""Non-polynomial costs where pathwise can lose (Mohamed, Rosca, Figurnov, Mnih 2020, JMLR, §3).

Closed forms from REFERENCE.md, with a = 1 + 4kσ², b = 1 + 2kσ². There is no elementary closed
form for the measure-valued variance here (it needs Dawson's integral), so none is reported.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from reparam_opt.objectives import Objective, Optimum, _check_k


def _as_tensor(sigma: Tensor | float, like: Tensor) -> Tensor:
    return torch.as_tensor(sigma, dtype=like.dtype, device=like.device)


class GaussianBump(Objective):
    """f(x) = exp(−kx²), a bump with its MAXIMUM at 0: J = b^(−1/2) exp(−kθ²/b).

    J > 0 falls towards its infimum 0 as |θ| → ∞ and never reaches it, so there is no θ*:
    training on it runs (θ drifts outwards ever more slowly), but ``theta/rms_error`` and the
    metrics built on θ* are not reported. The cost is here for the variance comparison.
    """

    theta_star = None

    def __init__(self, k: float = 1.0) -> None:
        self.k = float(k)

    def validate(self) -> None:
        _check_k("gaussian_bump", self.k, positive=True)

    def __call__(self, x: Tensor) -> Tensor:
        return torch.exp(-self.k * x.square())

    def value(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        b = 1.0 + 2.0 * self.k * _as_tensor(sigma, theta) ** 2
        return b.rsqrt() * torch.exp(-self.k * theta.square() / b)

    def grad(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        b = 1.0 + 2.0 * self.k * _as_tensor(sigma, theta) ** 2
        return -2.0 * self.k * theta / b * self.value(theta, sigma)

    def curvature(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        b = 1.0 + 2.0 * self.k * _as_tensor(sigma, theta) ** 2
        return self.value(theta, sigma) * (4.0 * self.k**2 * theta.square() / b.square() - 2.0 * self.k / b)

    def second_moment(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        a = 1.0 + 4.0 * self.k * _as_tensor(sigma, theta) ** 2
        return a.rsqrt() * torch.exp(-2.0 * self.k * theta.square() / a)

    def per_sample_variances(self, theta: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        k, s2 = self.k, _as_tensor(sigma, theta) ** 2
        a = 1.0 + 4.0 * k * s2
        decay = torch.exp(-2.0 * k * theta.square() / a) / a**2.5
        g2 = self.grad(theta, sigma).square()
        return {
            "score": lambda: (1.0 + 4.0 * k * s2 + 16.0 * k**2 * theta.square() * s2) * decay / s2 - g2,
            "pathwise": lambda: 4.0 * k**2 * (theta.square() + s2 * a) * decay - g2,
        }


class Cosine(Objective):
    """f(x) = cos(kx): J = cos(kθ) exp(−k²σ²/2), minima at θ = (2m + 1)π/k, all with J* = −exp(−k²σ²/2).

    θ* is the minimum nearest θ0. It is also the one the exact-gradient run reaches, since each
    minimum's basin runs between the maxima at 2mπ/k on either side. From a maximum (kθ0/π even)
    two minima are equally near and the exact gradient is zero: then there is no θ*.
    """

    theta_star = None  # depends on θ0: see ``optimum``

    def __init__(self, k: float = 1.0) -> None:
        self.k = float(k)

    def validate(self) -> None:
        _check_k("cosine", self.k, positive=True)

    def optimum(self, theta0: float, sigma: float) -> Optimum | None:
        half_turns = self.k * theta0 / math.pi  # minima at odd values, maxima at even ones
        if math.isclose(half_turns / 2.0, round(half_turns / 2.0), rel_tol=0.0, abs_tol=1e-12):
            return None
        m = round((half_turns - 1.0) / 2.0)
        return Optimum((2 * m + 1) * math.pi / self.k, -math.exp(-(self.k * sigma) ** 2 / 2.0))

    def __call__(self, x: Tensor) -> Tensor:
        return torch.cos(self.k * x)

    def _damping(self, theta: Tensor, sigma: Tensor | float, power: float = 1.0) -> Tensor:
        """exp(−power·k²σ²/2)."""
        return torch.exp(-power * (self.k * _as_tensor(sigma, theta)) ** 2 / 2.0)

    def value(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        return torch.cos(self.k * theta) * self._damping(theta, sigma)

    def grad(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        return -self.k * torch.sin(self.k * theta) * self._damping(theta, sigma)

    def curvature(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        return -(self.k**2) * self.value(theta, sigma)

    def second_moment(self, theta: Tensor, sigma: Tensor | float) -> Tensor:
        return (1.0 + torch.cos(2.0 * self.k * theta) * self._damping(theta, sigma, 4.0)) / 2.0

    def per_sample_variances(self, theta: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        k, s2 = self.k, _as_tensor(sigma, theta) ** 2
        cos2, sin2 = torch.cos(2.0 * k * theta), torch.sin(k * theta).square()
        damp2, damp4 = self._damping(theta, sigma, 2.0), self._damping(theta, sigma, 4.0)
        return {
            "score": lambda: (1.0 + cos2 * (1.0 - 4.0 * k**2 * s2) * damp4) / (2.0 * s2) - k**2 * sin2 * damp2,
            "pathwise": lambda: k**2 * ((1.0 - cos2 * damp4) / 2.0 - sin2 * damp2),
        }
