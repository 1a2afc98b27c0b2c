"""f(x) = (x − m)ᵀA(x − m) with A = (1 − ρ)I + ρ11ᵀ and m = k·1: a cost that is not a sum over coordinates.

Every other Gaussian cost here is separable, so each coordinate's pathwise term sees only its own
noise and the terms are uncorrelated across coordinates. Here ρ couples the coordinates: the
pathwise μ-term 2A(x − m) carries every coordinate's noise, with covariance 4AS²A, and the score
function's terms share f in a way the separable formulas do not describe. It is the smallest cost
on which the run's closed forms have to be the whole-vector ones, and, as the negative log joint
of Bayesian linear regression in the weights, the shape a variational posterior meets in practice.

With d = μ − m, S = diag σ, b = SAd, B = SAS and c = dᵀAd (docs/maths.md, "A correlated quadratic"):
J = c + tr B, ∇_μ J = 2Ad, ∂J/∂s_i = 2A_ii σ_i² = 2σ_i². A_ii = 1, so E[∂²f/∂x_i²] = 2 everywhere
(``curvature_free``), and μ* = m with or without an entropy term. A is never formed: its
structure gives every product in O(D), except the covariances, which are [..., D, D] by contract.
The s-terms' variances are derived for pathwise, score and measure-valued (``scale_term_variance``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from reparam_opt.objectives.base import Objective, ObjectiveConfig, as_tensor, check_k


@dataclass
class QuadraticConfig(ObjectiveConfig):
    """f(x) = (x − k·1)ᵀA(x − k·1), A = (1 − ρ)I + ρ11ᵀ; finite k, −1/(D − 1) < ρ < 1."""

    _target_: str = "reparam_opt.objectives.quadratic.Quadratic"
    rho: float = 0.5
    k: float = 1.0


class Parts(NamedTuple):
    """The pieces every closed form is written in, at μ [..., D] and σ."""

    a_d: Tensor  # Ad, [..., D]
    s2: Tensor  # σ_i², [..., D]
    t2: Tensor  # tr B = Σσ_i², [..., 1]
    t4: Tensor  # Σσ_i⁴, [..., 1]
    c: Tensor  # dᵀAd, [..., 1]
    bb: Tensor  # ‖b‖² = Σσ_i²(Ad)_i², [..., 1]
    tr_b2: Tensor  # tr B² = (1 − ρ²)Σσ⁴ + ρ²(Σσ²)², [..., 1]
    path: Tensor  # (AS²A)_ii = (1 − ρ²)σ_i² + ρ²Σσ², [..., D]

    @property
    def var_f(self) -> Tensor:
        """Var f = 4‖b‖² + 2 tr B², [..., 1]."""
        return 4.0 * self.bb + 2.0 * self.tr_b2

    @property
    def f2(self) -> Tensor:
        """E[f²] = (c + tr B)² + Var f, [..., 1]."""
        return (self.c + self.t2).square() + self.var_f


class Quadratic(Objective):
    """f(x) = (1 − ρ)‖x − m‖² + ρ(Σ(x − m))²; J = dᵀAd + Σσ_i², θ* = k, J* = Σσ_i²."""

    name = "quadratic"
    schema = QuadraticConfig

    def __init__(self, rho: float = 0.5, k: float = 1.0, m: Tensor | None = None) -> None:
        """``m`` (a [D] tensor) replaces k·1 for a centre that is not the same in every coordinate;
        the config gives k only. With such an m θ* is not one number, and ``theta_star`` is None."""
        self.rho, self.k = float(rho), float(k)
        self.m = self.k if m is None else m
        self.theta_star = self.k if m is None else None

    def validate(self) -> None:
        if not math.isfinite(self.rho):
            raise ValueError(
                f"objective.rho={self.rho} is not allowed for objective={self.name}: "
                "rho must be a finite number"
            )
        check_k(self, positive=False)

    def check_dim(self, dim: int) -> None:
        """A is positive definite (eigenvalues 1 − ρ and 1 + (D − 1)ρ) only for −1/(D − 1) < ρ < 1.
        In D = 1, A = 1 whatever ρ; ρ < 1 is still asked, the bound every D shares."""
        low = -math.inf if dim == 1 else -1.0 / (dim - 1)
        if low < self.rho < 1.0:
            return
        where = f"objective.rho={self.rho} is not allowed for objective={self.name} at dim={dim}"
        if dim == 1:
            raise ValueError(f"{where}: rho must be < 1 (at rho = 1, A is singular in every dim > 1)")
        raise ValueError(
            f"{where}: A = (1 - rho)I + rho*11^T is positive definite only for {low:.6g} < rho < 1"
        )

    def curvature_free(self) -> bool:
        return True

    def second_order(self) -> bool:
        return True

    def __call__(self, x: Tensor) -> Tensor:
        y = x - self.m
        return (1.0 - self.rho) * y.square().sum(-1) + self.rho * y.sum(-1).square()

    def times_a(self, v: Tensor) -> Tensor:
        """Av, over the last axis."""
        return (1.0 - self.rho) * v + self.rho * v.sum(-1, keepdim=True)

    def parts(self, mu: Tensor, sigma: Tensor | float) -> Parts:
        rho, d = self.rho, mu - as_tensor(self.m, mu)
        a_d = self.times_a(d)
        s2 = as_tensor(sigma, mu) ** 2 + torch.zeros_like(mu)
        t2, t4 = s2.sum(-1, keepdim=True), s2.square().sum(-1, keepdim=True)
        return Parts(
            a_d=a_d,
            s2=s2,
            t2=t2,
            t4=t4,
            c=(d * a_d).sum(-1, keepdim=True),
            bb=(s2 * a_d.square()).sum(-1, keepdim=True),
            tr_b2=(1.0 - rho**2) * t4 + rho**2 * t2.square(),
            path=(1.0 - rho**2) * s2 + rho**2 * t2,
        )

    def expectation(self, mu: Tensor, sigma: Tensor | float) -> Tensor:
        p = self.parts(mu, sigma)
        return (p.c + p.t2).squeeze(-1)

    def gradient(self, mu: Tensor, sigma: Tensor | float) -> Tensor:
        return 2.0 * self.times_a(mu - as_tensor(self.m, mu))

    def scale_gradient(self, mu: Tensor, sigma: Tensor | float, learned: str) -> Tensor | None:
        """2σ_i² per coordinate [..., D], or 2Σσ_i² [..., 1] for a shared s."""
        if learned == "fixed":
            return None
        per_coordinate = 2.0 * (as_tensor(sigma, mu) ** 2 + torch.zeros_like(mu))
        return per_coordinate.sum(-1, keepdim=True) if learned == "shared" else per_coordinate

    def term_variances(self, name: str, mu: Tensor, sigma: Tensor | float) -> Tensor | None:
        """Pathwise 4(AS²A)_ii; score E[f²ε_i²]/σ_i² − (2(Ad)_i)²; measure-valued 4(Ad)_i²(4 − π)/π
        + (16/π)Σ_{j≠i}A_ij²σ_j²."""
        p = self.parts(mu, sigma)
        if name == "pathwise":
            return 4.0 * p.path
        if name == "score":
            return p.f2 / p.s2 + 4.0 * p.a_d.square() + 8.0 * p.path + 4.0 * (p.c + p.t2)
        if name == "measure_valued":
            return (4.0 * (4.0 - math.pi) * p.a_d.square() + 16.0 * self.rho**2 * (p.t2 - p.s2)) / math.pi
        return None

    def term_covariances(self, mu: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        """Cov(μ_i-term, μ_j-term), i ≠ j, [..., D, D]: pathwise 4(AS²A)_ij; score
        [8b_ib_j + 8(B²)_ij + 4B_ij(c + tr B)]/(σ_iσ_j) − 4(Ad)_i(Ad)_j."""
        p, rho = self.parts(mu, sigma), self.rho
        off_diagonal = 1.0 - torch.eye(mu.shape[-1], dtype=mu.dtype, device=mu.device)
        pair_s2 = p.s2.unsqueeze(-1) + p.s2.unsqueeze(-2)  # σ_i² + σ_j²
        path = (1.0 - rho) * rho * pair_s2 + rho**2 * p.t2.unsqueeze(-1)  # (AS²A)_ij, i ≠ j
        grads = p.a_d.unsqueeze(-1) * p.a_d.unsqueeze(-2)
        return {
            "pathwise": lambda: 4.0 * path * off_diagonal,
            "score": lambda: (
                (4.0 * grads + 8.0 * path + 4.0 * rho * (p.c + p.t2).unsqueeze(-1)) * off_diagonal
            ),
        }

    def leave_one_out_variances(
        self, score_variances: Tensor, mu: Tensor, sigma: Tensor | float, n: int
    ) -> Tensor:
        """n·Var(mean)_i = V_score,i − 2J·E[∂²f/∂x_i²] − J²/σ_i² + (Var f/σ_i² + (∂_iJ)²)/(n − 1), with
        E[∂²f/∂x_i²] = 2 (docs/maths.md, "The leave-one-out baseline": it holds for any f)."""
        p = self.parts(mu, sigma)
        value = p.c + p.t2
        oracle = score_variances - 4.0 * value - value.square() / p.s2
        return oracle + (p.var_f / p.s2 + 4.0 * p.a_d.square()) / (n - 1)

    def scale_term_variance(
        self, name: str, mu: Tensor, sigma: Tensor | float, learned: str
    ) -> Tensor | None:
        """Var of the s-terms, summed over scale coordinates [...], for pathwise, score and measure-valued.

        Pathwise's s_i-term is 2ε_i(b_i + (Bε)_i): shared, 4‖b‖² + 8 tr B²; diagonal, 4‖b‖² + 4Σσ⁴ +
        4 tr B². Score's f(ε_i² − 1) by Stein's identity to fourth order; measure-valued's terms are
        uncorrelated across coordinates, so shared and diagonal agree (docs/maths.md).
        """
        if learned == "fixed":
            return None
        p, dim = self.parts(mu, sigma), mu.shape[-1]
        shared = learned == "shared"
        if name == "pathwise":
            total = 4.0 * p.bb + (8.0 * p.tr_b2 if shared else 4.0 * p.t4 + 4.0 * p.tr_b2)
        elif name == "score":
            common = 32.0 * p.bb + 16.0 * p.t2 * (p.c + p.t2) + 2.0 * dim * p.f2
            extra = 48.0 * p.tr_b2 + 4.0 * p.t2.square() if shared else 32.0 * p.tr_b2 + 20.0 * p.t4
            total = common + extra
        elif name == "measure_valued":
            total = 4.0 * p.bb + 4.0 * self.rho**2 * (p.t2.square() - p.t4) + 4.0 * p.t4
        else:
            return None
        return total.squeeze(-1)
