"""Cost functions f(x) and, where they exist, the closed forms of J, its gradient and variances.

An objective is a callable f; everything else is optional. A method that returns ``None``
means "no closed form", and the caller simply does not report the analytic value.
The formulas are those of REFERENCE.md; the leave-one-out variance is derived in
``Objective.grad_variance`` and checked by quadrature in tests/test_objectives.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor


@dataclass(frozen=True)
class Optimum:
    """The minimiser θ* of J and the minimum J* = J(θ*) (None without a closed-form J)."""

    theta: float
    value: float | None


class Objective:
    """Base class: override ``__call__``; override the closed forms only where they are known."""

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
        """Closed-form variances of one term, by estimator name, for estimators whose terms are independent."""
        return {}

    def grad_variance(
        self, estimator: str, theta: Tensor, sigma: Tensor | float, n_samples: int = 1
    ) -> Tensor | None:
        """n × Var(the n-sample estimate) of ``estimator`` at θ, or None without a closed form.

        For independent terms this is the variance of one term, whatever n. The leave-one-out
        terms are correlated and their figure depends on n (see ``_leave_one_out``).
        """
        if estimator == "exact":
            return torch.zeros_like(theta)
        if estimator == "score_baseline":
            return self._leave_one_out(theta, sigma, n_samples)
        closed_form = self.per_sample_variances(theta, sigma).get(estimator)
        return None if closed_form is None else closed_form()

    def _leave_one_out(self, theta: Tensor, sigma: Tensor | float, n: int) -> Tensor | None:
        """n·Var of the leave-one-out estimate, from the score function's variance and moments of f.

        With s = ∂θ log q = (x − θ)/σ², μ = J, g = ∇J, E[s²] = 1/σ², E[f s²] = J'' + J/σ²:
        a term (f_i − m_{−i}) s_i, m_{−i} the mean of the other n − 1 values, has variance
        V_oracle + Var f / ((n−1)σ²), where V_oracle = V_score − 2J J'' − J²/σ² is the variance
        with the baseline E f; two terms have covariance g²/(n−1)². So n·Var(mean) =
        V_oracle + (Var f / σ² + g²)/(n − 1). For f = x² at θ = 2, σ = 1, n = 10: 45.78.
        """
        if n < 2:
            return None
        parts = (self.per_sample_variances(theta, sigma).get("score"), self.value(theta, sigma),
                 self.grad(theta, sigma), self.curvature(theta, sigma), self.second_moment(theta, sigma))
        if any(part is None for part in parts):
            return None
        score, value, grad, curvature, second = parts
        s2 = sigma**2
        oracle = score() - 2.0 * value * curvature - value.square() / s2
        return oracle + ((second - value.square()) / s2 + grad.square()) / (n - 1)


def _check_k(objective: str, k: float, positive: bool) -> None:
    """The one-line error for an out-of-domain k."""
    if not math.isfinite(k) or (positive and k <= 0):
        allowed = "a finite number > 0" if positive else "a finite number"
        raise ValueError(f"objective.k={k} is not allowed for objective={objective}: k must be {allowed}")


class ShiftedSquare(Objective):
    """f(x) = (x − k)². With d = θ − k: J = d² + σ², ∇J = 2d, θ* = k, J* = σ²."""

    def __init__(self, k: float = 1.0) -> None:
        self.k = float(k)
        self.theta_star = self.k

    def validate(self) -> None:
        _check_k("shifted_square", self.k, positive=False)

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


class Square(ShiftedSquare):
    """f(x) = x², the seed notebook's cost. J = θ² + σ², ∇J = 2θ, θ* = 0."""

    def __init__(self) -> None:
        super().__init__(k=0.0)

    def validate(self) -> None:
        """No parameter to check."""

    def __call__(self, x: Tensor) -> Tensor:
        return x.square()  # (x − 0)² would make one more pass over the samples
