"""f(b) = (b − t)² on b ∈ {0, 1}: the cost of the REBAR and RELAX papers' toy (family=bernoulli).

J(θ) = E[(b − t)²] with p = σ(θ) has no minimiser for t ≠ ½ (θ → −∞ for t < ½, where J → t²),
so there is no θ*. Every closed form is by enumeration over b ∈ {0, 1} (docs/maths.md, "The
Bernoulli toy").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from reparam_opt.objectives.base import Objective, ObjectiveConfig, Optimum


@dataclass
class TargetConfig(ObjectiveConfig):
    """f(b) = (b − t)² on the Bernoulli family; any finite t."""

    _target_: str = "reparam_opt.objectives.Target"
    t: float = 0.45


class Target(Objective):
    """f(b) = (b − t)² on b ∈ {0, 1}: J = t² + p(1 − 2t), dJ/dθ = (1 − 2t)p(1 − p)."""

    name = "target"
    schema = TargetConfig
    family = "bernoulli"
    theta_star = None  # θ → ∓∞

    def __init__(self, t: float = 0.45) -> None:
        self.t = float(t)

    def validate(self) -> None:
        if not math.isfinite(self.t):
            raise ValueError(
                f"objective.t={self.t} is not allowed for objective=target: t must be a finite number"
            )

    def optimum(self, theta0: float, sigma: float) -> Optimum | None:
        return None

    def __call__(self, b: Tensor) -> Tensor:
        """f at b [..., 1]: [...]."""
        return (b - self.t).square().squeeze(-1)

    def value(self, theta: Tensor, sigma: object = None) -> Tensor:
        """J(θ) = (1 − p)t² + p(1 − t)²."""
        return self.t**2 + torch.sigmoid(theta) * (1.0 - 2.0 * self.t)

    def grad(self, theta: Tensor, sigma: object = None) -> Tensor:
        p = torch.sigmoid(theta)
        return (1.0 - 2.0 * self.t) * p * (1.0 - p)

    def per_sample_variances(self, theta: Tensor, sigma: object = None) -> dict[str, Callable[[], Tensor]]:
        """REINFORCE's single-sample variance p(1 − p)[(1 − t)²(1 − p) + t²p]²."""
        p, t = torch.sigmoid(theta), self.t
        return {"score": lambda: p * (1.0 - p) * ((1.0 - t) ** 2 * (1.0 - p) + t**2 * p).square()}

    def leave_one_out_variance(self, theta: Tensor, n: int) -> Tensor:
        """n·Var of the leave-one-out estimate, which is (1 − 2t)·S² (S² the sample variance of the b's):
        Var = (1 − 2t)²(s/n)[1 − s(4n − 6)/(n − 1)], s = p(1 − p)."""
        p = torch.sigmoid(theta)
        s = p * (1.0 - p)
        return (1.0 - 2.0 * self.t) ** 2 * s * (1.0 - s * (4 * n - 6) / (n - 1))
