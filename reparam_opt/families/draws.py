"""How an estimator's ε are drawn (``draws=iid|antithetic|sobol``), orthogonal to the estimator.

Every Gaussian estimator draws its base noise through its q's ``draws`` (``Gaussian.draws``), so
a way of drawing is one class here and no estimator changes:

- ``iid``: independent draws from torch's sampler, exactly as the estimators made them before
  this key existed (the same calls, so a seed gives the same bits);
- ``antithetic``: n/2 independent draws and their mirror images, ε and −ε (u and 1 − u for a law
  drawn through its inverse CDF). The pairs are independent of each other, the two halves of a
  pair are not;
- ``sobol``: randomised quasi-Monte Carlo. Each replicate's n points are a Sobol' sequence
  (torch.quasirandom.SobolEngine) scrambled afresh for that replicate and step, with a seed from
  torch's stream, so a seeded run is reproducible and the replicates are independent; each point
  is uniform on the cube, so the estimate is unbiased, and a normal comes through its inverse CDF.
  With ``scrambles`` k > 1 the n points are k independent scrambles of n/k points each.

Draws that are not independent make the in-step variance harder to estimate: the terms' sample
variance over n treats them as independent, which they are not. The in-step variance is taken
over the independent *units* instead (``units``): the samples (iid), the pairs' means
(antithetic), the scrambles' means (sobol); with a single unit (one scramble) there is no honest
in-step estimate, and none is logged. ``in_step`` says how, in the words a tag's chart uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.distributions import Distribution, Normal
from torch.quasirandom import SobolEngine

#: Uniforms are kept this far inside (0, 1), so that an inverse CDF stays finite (Φ⁻¹ ≈ ±8.2).
UNIT_MARGIN = 2.0**-53


def standard_normal(u: Tensor, like: Tensor) -> Tensor:
    """Φ⁻¹(u) for float64 uniforms, computed in float64 (near 1 a float32 u has lost its tail)
    and returned in ``like``'s dtype and on its device."""
    return Normal(u.new_zeros(()), u.new_ones(())).icdf(u).to(dtype=like.dtype, device=like.device)


def inside(u: Tensor, like: Tensor) -> Tensor:
    """float64 uniforms in ``like``'s dtype, kept inside (0, 1) at that dtype's precision."""
    margin = torch.finfo(like.dtype).eps / 2.0
    return u.to(dtype=like.dtype, device=like.device).clamp_(margin, 1.0 - margin)


def quantile(law: Distribution, u: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``law`` [broadcasting to ``shape``] at float64 uniforms u: a Normal's μ + σΦ⁻¹(u), with Φ⁻¹ in
    float64; another law's ``icdf`` in its own dtype."""
    like = law.mean
    if isinstance(law, Normal):
        return law.loc + standard_normal(u, like) * law.scale
    return law.expand(shape).icdf(inside(u, like))


@dataclass(frozen=True)
class IID:
    """``draws=iid``: torch's own sampler, one independent draw per sample."""

    name: ClassVar[str] = "iid"
    #: How the in-step variance is estimated: over what, as the tag's chart says.
    in_step: ClassVar[str] = "sample variance of the n terms / n"

    @property
    def independent(self) -> bool:
        """Whether the n draws of a step are independent (the estimators' own code path)."""
        return True

    def check(self, n_samples: int, key: str = "n_samples") -> None:
        """One line for an n the draws cannot be made with."""

    def rsample(self, distribution: Distribution, shape: tuple[int, ...]) -> Tensor:
        """Draws of ``distribution`` (batch shape broadcasting to ``shape``), differentiable in its
        parameters where it is reparameterised."""
        if distribution.batch_shape != shape:
            distribution = distribution.expand(shape)
        return distribution.rsample()

    def units(self, terms: Tensor) -> Tensor:
        """The step's independent units, [..., m, P]: here the terms themselves."""
        return terms

    def unit_count(self, n_samples: int) -> int:
        return n_samples

    def per_sample(self, per_unit: Tensor, n_samples: int) -> Tensor:
        """A value per unit [..., m, P] repeated for each sample of its unit: [..., n, P]."""
        return per_unit

    def closed_form(
        self, estimator: Any, cost: Any, mu: Tensor, sigma: Tensor | float, n: int
    ) -> Tensor | None:
        """n × Var(the n-sample estimate of ∇_μ) per coordinate, or None: the estimator's own rule."""
        return estimator.closed_form(estimator, cost, mu, sigma, n)

    def scale_closed_form(
        self, estimator: Any, cost: Any, mu: Tensor, sigma: Tensor | float, learned: str
    ) -> Tensor | None:
        return estimator.scale_closed_form(estimator, cost, mu, sigma, learned)


@dataclass(frozen=True)
class Transformed(IID):
    """Draws made from uniforms [R, n, k] through each law's inverse CDF: a subclass says how the
    uniforms are made."""

    @property
    def independent(self) -> bool:
        return False

    def uniform(self, shape: tuple[int, ...]) -> Tensor:
        """This step's uniforms [..., n, k], float64 on the CPU, inside (0, 1)."""
        raise NotImplementedError

    def rsample(self, distribution: Distribution, shape: tuple[int, ...]) -> Tensor:
        """This step's uniforms through the law's inverse CDF, differentiable in a Normal's μ and σ."""
        return quantile(distribution, self.uniform(shape), shape)

    def joint(self, laws: list[Distribution], shape: tuple[int, ...]) -> list[Tensor]:
        """Draws of several laws [R, n, D] from one set of uniforms [R, n, k·D], so that a Sobol'
        point covers all of them at once (measure-valued's Weibull and the other coordinates)."""
        u = self.uniform((*shape[:-1], shape[-1] * len(laws)))
        with torch.no_grad():
            return [quantile(law, part, shape) for law, part in zip(laws, u.split(shape[-1], dim=-1))]


@dataclass(frozen=True)
class Antithetic(Transformed):
    """``draws=antithetic``: n/2 independent uniforms u and their mirrors 1 − u (ε and −ε for a normal)."""

    name: ClassVar[str] = "antithetic"
    in_step: ClassVar[str] = "sample variance of the n/2 pair means / (n/2)"

    def check(self, n_samples: int, key: str = "n_samples") -> None:
        if n_samples % 2:
            raise ValueError(f"bad value {key}={n_samples}: draws=antithetic needs an even number (pairs)")

    def uniform(self, shape: tuple[int, ...]) -> Tensor:
        *batch, n, k = shape
        half = torch.rand(*batch, n // 2, k, dtype=torch.float64)
        return torch.cat([half, 1.0 - half], dim=-2).clamp_(UNIT_MARGIN, 1.0 - UNIT_MARGIN)

    def rsample(self, distribution: Distribution, shape: tuple[int, ...]) -> Tensor:
        """A normal's pairs are μ ± σε, ε from torch's sampler (exact mirrors, no inverse CDF)."""
        if not isinstance(distribution, Normal):
            return super().rsample(distribution, shape)
        *batch, n, k = shape
        like = distribution.mean
        half = torch.randn(*batch, n // 2, k, dtype=like.dtype, device=like.device)
        return distribution.loc + torch.cat([half, -half], dim=-2) * distribution.scale

    def units(self, terms: Tensor) -> Tensor:
        first, second = terms.chunk(2, dim=-2)
        return (first + second) / 2.0

    def unit_count(self, n_samples: int) -> int:
        return n_samples // 2

    def per_sample(self, per_unit: Tensor, n_samples: int) -> Tensor:
        return torch.cat([per_unit, per_unit], dim=-2)

    def closed_form(
        self, estimator: Any, cost: Any, mu: Tensor, sigma: Tensor | float, n: int
    ) -> Tensor | None:
        """n·Var(mean of n/2 pairs) = 2·Var(one pair's mean), from the cost's pair variances."""
        rule = cost.antithetic_variances(mu, sigma).get(estimator.name)
        return None if rule is None else 2.0 * rule()

    def scale_closed_form(self, *_) -> None:
        return None


@dataclass(frozen=True)
class Sobol(Transformed):
    """``draws=sobol``: scrambled Sobol' points, scrambled afresh per replicate, step and scramble."""

    #: Independent scrambles per step: the n points are ``scrambles`` blocks of n/scrambles.
    scrambles: int = 1

    name: ClassVar[str] = "sobol"
    in_step: ClassVar[str] = "sample variance of the scrambles' means / scrambles"

    def check(self, n_samples: int, key: str = "n_samples") -> None:
        if self.scrambles < 1:
            raise ValueError(f"bad value draws.scrambles={self.scrambles}: must be an integer >= 1")
        if n_samples % self.scrambles:
            raise ValueError(
                f"bad value {key}={n_samples}: draws=sobol with draws.scrambles={self.scrambles} "
                "needs a multiple of the scrambles"
            )

    def uniform(self, shape: tuple[int, ...]) -> Tensor:
        """[..., n, k] uniforms: for each row and scramble, a Sobol' engine scrambled with a seed
        drawn from torch's stream (one int64 per row and scramble, drawn at once)."""
        *batch, n, k = shape
        rows = 1
        for size in batch:
            rows *= size
        seeds = torch.randint(0, 2**62, (rows, self.scrambles)).tolist()
        per_scramble = n // self.scrambles
        points = torch.stack(
            [
                torch.cat(
                    [
                        SobolEngine(k, scramble=True, seed=seed).draw(per_scramble, dtype=torch.float64)
                        for seed in row
                    ]
                )
                for row in seeds
            ]
        )
        return points.clamp_(UNIT_MARGIN, 1.0 - UNIT_MARGIN).reshape(*batch, n, k)

    def units(self, terms: Tensor) -> Tensor:
        return terms.unflatten(-2, (self.scrambles, -1)).mean(-2)

    def unit_count(self, n_samples: int) -> int:
        return self.scrambles

    def per_sample(self, per_unit: Tensor, n_samples: int) -> Tensor:
        return per_unit.repeat_interleave(n_samples // self.scrambles, dim=-2)

    def closed_form(self, *_) -> None:
        """Randomised QMC's variance depends on the integrand's smoothness: no closed form here."""
        return None

    def scale_closed_form(self, *_) -> None:
        return None
