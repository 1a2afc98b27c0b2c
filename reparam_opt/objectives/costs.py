"""Cost functions f and, where they exist, the one-dimensional closed forms of J, J′, J″, E[f²] and
the per-sample variances, applied coordinate by coordinate (``separable.py`` sums them in D dims).

A method that returns ``None`` means "no closed form": the caller reports no analytic value. How
each estimator's variance follows from these moments is the estimator's business. The squares
have every closed form; exp(−kx²) and cos(kx) are where pathwise can lose (Mohamed et al. 2020,
§3; a = 1 + 4kσ², b = 1 + 2kσ² below), and their measure-valued variance has no closed form here.
Formulas: docs/maths.md; checked by quadrature in tests/test_estimator_pairs.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Optimum:
    """The minimiser θ* of J and the minimum J* = J(θ*) (None without a closed-form J)."""

    theta: float
    value: float | None


class Objective:
    """Base class: override ``__call__``; override the closed forms only where they are known."""

    #: The option of the ``objective`` config group, as the command line and error messages say it.
    name: str = ""

    #: The family whose samples it takes: ``gaussian`` (x real) or ``bernoulli`` (b in {0, 1}).
    family: str = "gaussian"

    #: The minimiser θ* of J where it does not depend on θ0; None where J has no minimiser.
    theta_star: float | None = 0.0

    def __call__(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def validate(self) -> None:
        """Raise ValueError, one line naming the key, the value and what is allowed, for a bad parameter."""

    def optimum(self, theta0: float, sigma: float) -> Optimum | None:
        """θ* and J* that ``theta/rms_error`` and ``steps_to_tolerance`` measure against, or None."""
        if self.theta_star is None:
            return None
        value = self.value(torch.tensor(self.theta_star, dtype=torch.float64), sigma)
        return Optimum(self.theta_star, None if value is None else float(value))

    def value(self, theta: Tensor, sigma: Tensor | float) -> Tensor | None:
        """J(θ) = E_{x~N(θ,σ²)}[f(x)], or None without a closed form."""
        return None

    def grad(self, theta: Tensor, sigma: Tensor | float) -> Tensor | None:
        """∇J(θ), or None without a closed form."""
        return None

    def curvature(self, theta: Tensor, sigma: Tensor | float) -> Tensor | None:
        """J''(θ), which the leave-one-out variance needs, or None without a closed form."""
        return None

    def second_moment(self, theta: Tensor, sigma: Tensor | float) -> Tensor | None:
        """E[f(x)²], which the leave-one-out variance needs, or None without a closed form."""
        return None

    def per_sample_variances(self, theta: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        """Closed-form variances of one term, by estimator name, for the estimators with independent terms."""
        return {}


def _check_k(objective: Objective, positive: bool) -> None:
    """The one-line error for an out-of-domain k."""
    k = objective.k
    if not math.isfinite(k) or (positive and k <= 0):
        allowed = "a finite number > 0" if positive else "a finite number"
        raise ValueError(
            f"objective.k={k} is not allowed for objective={objective.name}: k must be {allowed}"
        )


class ShiftedSquare(Objective):
    """f(x) = (x − k)². With d = θ − k: J = d² + σ², ∇J = 2d, θ* = k, J* = σ²."""

    name = "shifted_square"

    def __init__(self, k: float = 1.0) -> None:
        self.k = float(k)
        self.theta_star = self.k

    def validate(self) -> None:
        _check_k(self, positive=False)

    def __call__(self, x: Tensor) -> Tensor:
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

    def scale_variances(
        self, theta: Tensor, sigma: Tensor | float, shared: bool
    ) -> dict[str, Callable[[], Tensor]]:
        """Variance of the s-terms summed over scale coordinates, for μ [..., D] (docs/maths.md).

        ``shared``: one s for every coordinate (σ the same in each); otherwise one s per coordinate.
        The measure-valued s-terms are independent across coordinates (the other coordinates cancel
        in each difference), each 2dσM(1 − U) + σ²M²(1 − U²) with E M² = 3, E M⁴ = 15.
        """
        d2, dim = (theta - self.k).square(), theta.shape[-1]
        s2 = _as_tensor(sigma, theta) ** 2 + torch.zeros_like(d2)  # σ_i², [..., D]
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
        s2 = _as_tensor(sigma, theta) ** 2 + torch.zeros_like(d2)
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

    def __init__(self) -> None:
        super().__init__(k=0.0)

    def validate(self) -> None:
        """No parameter to check."""

    def __call__(self, x: Tensor) -> Tensor:
        return x.square()  # (x − 0)² would make one more pass over the samples


def _as_tensor(sigma: Tensor | float, like: Tensor) -> Tensor:
    return torch.as_tensor(sigma, dtype=like.dtype, device=like.device)


class GaussianBump(Objective):
    """f(x) = exp(−kx²), a bump with its MAXIMUM at 0: J = b^(−1/2) exp(−kθ²/b).

    J > 0 falls towards its infimum 0 as |θ| → ∞ and never reaches it, so there is no θ*:
    training on it runs (θ drifts outwards ever more slowly), but ``theta/rms_error`` and the
    metrics built on θ* are not reported. The cost is here for the variance comparison.
    """

    name = "gaussian_bump"
    theta_star = None

    def __init__(self, k: float = 1.0) -> None:
        self.k = float(k)

    def validate(self) -> None:
        _check_k(self, positive=True)

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

    name = "cosine"
    theta_star = None  # depends on θ0: see ``optimum``

    def __init__(self, k: float = 1.0) -> None:
        self.k = float(k)

    def validate(self) -> None:
        _check_k(self, positive=True)

    def optimum(self, theta0: float, sigma: float) -> Optimum | None:
        half_turns = self.k * theta0 / math.pi  # minima at odd values, maxima at even ones
        if math.isclose(half_turns / 2.0, round(half_turns / 2.0), rel_tol=0.0, abs_tol=1e-12):
            return None
        m = round((half_turns - 1.0) / 2.0)
        return Optimum((2 * m + 1) * math.pi / self.k, -math.exp(-((self.k * sigma) ** 2) / 2.0))

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
            "score": lambda: (
                (1.0 + cos2 * (1.0 - 4.0 * k**2 * s2) * damp4) / (2.0 * s2) - k**2 * sin2 * damp2
            ),
            "pathwise": lambda: k**2 * ((1.0 - cos2 * damp4) / 2.0 - sin2 * damp2),
        }
