"""The Gaussian family q = N(μ, diag σ²) over D coordinates: its parameters, scale modes and entropy.

Each replicate's parameters live in one row θ = (μ, s) of P = D + S numbers, with s = log σ and
S the number of learned scale coordinates: none for a ``fixed`` scale (σ = ``sigma``), one for a
``shared`` scale, D for a ``diagonal`` one. One row per replicate keeps the loop, the optimizer,
the divergence mask and the history the same whatever the family's shape. Learning log σ rather
than σ keeps σ positive under any step, as mc_gradients and Pyro's autoguides do.

With ``entropy_weight`` λ the objective is J_λ = E_q[f] − λH(q). H(q) = Σ_i s_i + (D/2) log 2πe
has an exact gradient in s (−λ per diagonal coordinate, −λD for a shared s), which the loop adds
to the estimate: only E_q[f] is ever estimated (docs/maths.md, "Learnable scale").
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor
from torch.distributions import Normal

#: The ``scale`` key's values.
SCALES = ("fixed", "shared", "diagonal")


@dataclass(frozen=True)
class Gaussian:
    """One step's q for every replicate: what an estimator draws from and differentiates.

    ``scale`` is σ as it broadcasts against ``loc`` [replicates, D]: a 0-d tensor when fixed,
    [replicates, 1] when shared, [replicates, D] when diagonal. ``learned`` says which of those
    the estimator returns terms for (none when ``fixed``).
    """

    loc: Tensor
    scale: Tensor
    learned: str = "fixed"

    @property
    def dim(self) -> int:
        return self.loc.shape[-1]

    @property
    def scale_params(self) -> int:
        """S: the number of learned log-scale coordinates per replicate."""
        return {"fixed": 0, "shared": 1, "diagonal": self.dim}[self.learned]

    @functools.cached_property
    def sample_scale(self) -> Tensor:
        """σ, detached, shaped to broadcast against samples [replicates, n, D] (made once per q)."""
        scale = self.scale.detach()
        return scale.unsqueeze(-1) if scale.dim() == 0 else scale.unsqueeze(-2)

    def sample_shape(self, n_samples: int) -> tuple[int, ...]:
        return (*self.loc.shape[:-1], n_samples, self.dim)

    def rows(self, start: int, stop: int) -> Gaussian:
        """q for the replicates [start, stop): a chunk of a step (``reparam_opt/training/chunks.py``)."""
        scale = self.scale if self.scale.dim() == 0 else self.scale[start:stop]
        return Gaussian(self.loc[start:stop], scale, self.learned)

    def normal(self) -> Normal:
        """q as a torch Normal of batch shape [replicates, 1, D]; ``expand`` it to the samples."""
        return Normal(self.loc.detach().unsqueeze(-2), self.sample_scale, validate_args=False)


def at_point(
    replicates: int, dim: int, theta: float, sigma: float, learned: str = "fixed", **like
) -> Gaussian:
    """q with every coordinate of μ at ``theta`` and every σ at ``sigma``: the variance study's point."""
    loc = torch.full((replicates, dim), float(theta), **like)
    if learned == "fixed":
        return Gaussian(loc, torch.tensor(float(sigma), **like))
    width = 1 if learned == "shared" else dim
    return Gaussian(loc, torch.full((replicates, width), float(sigma), **like), learned)


@dataclass(frozen=True)
class GaussianFamily:
    """The ``dim``, ``scale``, ``entropy_weight`` and ``sigma`` keys, and the parameter rows they define."""

    name: ClassVar[str] = "gaussian"
    dim: int = 1
    scale: str = "fixed"
    entropy_weight: float = 0.0
    sigma: float = 1.0  # σ when fixed, σ₀ when learned

    @property
    def learned(self) -> bool:
        return self.scale != "fixed"

    @property
    def scale_params(self) -> int:
        return {"fixed": 0, "shared": 1, "diagonal": self.dim}[self.scale]

    @property
    def params(self) -> int:
        """P = D + S: the length of one replicate's parameter row."""
        return self.dim + self.scale_params

    def initial(self, replicates: int, theta0: float, device: torch.device) -> Tensor:
        """The parameter rows at the start: μ = ``theta0`` in every coordinate, s = log ``sigma``."""
        theta = torch.full((replicates, self.params), float(theta0), device=device)
        theta[:, self.dim :] = math.log(self.sigma)
        return theta.requires_grad_(True)

    def loc(self, theta: Tensor) -> Tensor:
        return theta[..., : self.dim]

    def sigma_of(self, theta: Tensor) -> Tensor | float:
        """σ for the closed forms: the ``sigma`` key when fixed, exp(s) [..., S] when learned."""
        return self.sigma if not self.learned else theta[..., self.dim :].exp()

    def q(self, theta: Tensor, fixed_scale: Tensor) -> Gaussian:
        """The estimators' view of q at the (detached) parameter rows ``theta``."""
        if not self.learned:
            return Gaussian(self.loc(theta), fixed_scale)
        return Gaussian(self.loc(theta), theta[..., self.dim :].exp(), self.scale)

    def entropy(self, sigma: Tensor | float) -> Tensor | float:
        """H(q) per replicate: Σ_i log σ_i + (D/2) log 2πe."""
        constant = self.dim * 0.5 * math.log(2.0 * math.pi * math.e)
        if not isinstance(sigma, Tensor):
            return self.dim * math.log(sigma) + constant
        per_coordinate = self.dim if sigma.shape[-1] == 1 else 1
        return sigma.log().sum(-1) * per_coordinate + constant

    def entropy_grad(self, theta: Tensor) -> Tensor | None:
        """∂(−λH)/∂θ, the same for every replicate: zero in μ, −λ per s coordinate (−λD if shared).

        None when there is nothing to add (no entropy term, or a fixed scale, where H is constant).
        """
        if self.entropy_weight == 0 or not self.learned:
            return None
        grad = theta.new_zeros(self.params)
        grad[self.dim :] = -self.entropy_weight * (self.dim if self.scale == "shared" else 1)
        return grad

    def sigma_star(self, curvature_free: bool) -> float | None:
        """σ* of J_λ for f = ‖x − k‖²: ∂J/∂s_i = 2σ² − λ = 0 gives σ*² = λ/2 (docs/maths.md).

        ``curvature_free``: the cost is a square, whose E[f''] is 2 everywhere. Without a learned
        scale σ* is the fixed σ; with λ = 0, or another cost, there is no closed-form σ*.
        """
        if not self.learned:
            return self.sigma
        if not curvature_free or self.entropy_weight == 0:
            return None
        return math.sqrt(self.entropy_weight / 2.0)
