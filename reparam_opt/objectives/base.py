"""What every objective is: a cost f over the whole vector, f(x[..., D]) -> [...], and the closed
forms under the Gaussian q = N(μ, diag σ²) that the run measures its estimates against.

A closed-form method returns ``None`` where there is none, and the caller then reports no analytic
value (a tag is absent rather than made up). μ is [..., D]; σ is a number or a tensor that
broadcasts against μ ([..., 1] for a shared scale, [..., D] for a diagonal one). ``learned`` is the
Gaussian family's scale mode: ``fixed``, ``shared`` or ``diagonal``.

A cost that is a sum over coordinates supplies one-dimensional forms instead (``separable.py``);
one that is not (``quadratic.py``) writes the whole-vector forms itself. The estimators only ever
call the objective on whole samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import ClassVar

import torch
from omegaconf import MISSING
from torch import Tensor


@dataclass
class ObjectiveConfig:
    """An objective's typed schema in Hydra's ConfigStore: its class path and, in a subclass, its
    parameters with their defaults and bounds (``field(metadata={"allowed": ...})``)."""

    _target_: str = MISSING


@dataclass(frozen=True)
class Optimum:
    """The minimiser θ* of J and the minimum J* = J(θ*) (None without a closed-form J).

    ``theta`` is a number where θ* has the same value in every coordinate (every cost so far), or
    a [D] tensor; ``point`` gives it as the [D] vector the run measures against.
    """

    theta: float | Tensor
    value: float | None

    def point(self, dim: int, **like) -> Tensor:
        """θ* as a [D] vector."""
        theta = torch.as_tensor(self.theta, **like)
        return theta.expand(dim).clone() if theta.dim() == 0 else theta.to(**like)


class Objective:
    """Base class: override ``__call__``; override the closed forms only where they are known."""

    #: The option of the ``objective`` config group, as the command line and error messages say it.
    name: str = ""

    #: The sample space it takes, as a family names it: ``gaussian`` (x real) or ``bernoulli``
    #: (b in {0, 1}). The family, not the objective, decides what to make of it.
    family: str = "gaussian"

    #: The minimiser θ* of J where it does not depend on θ0 (the same in every coordinate); None
    #: where J has no minimiser, or none in closed form (an objective says which it has).
    theta_star: float | None = None

    #: Its typed schema, stored in the ConfigStore as ``<name>_schema`` for its YAML to extend.
    schema: ClassVar[type] = ObjectiveConfig

    #: f is a model's negative log joint −log p(y, w), so that E_q f − H(q) is −ELBO.
    negative_log_joint: ClassVar[bool] = False

    def __call__(self, x: Tensor) -> Tensor:
        """f at samples x [..., D]: [...]."""
        raise NotImplementedError

    def one_batch(self) -> AbstractContextManager:
        """A context within which every evaluation of f sees the same data: one minibatch per step
        for a model that draws them (``data.py``), so that an estimator evaluating f more than once
        (measure-valued's coupled pairs) differences f on one batch; nothing to hold elsewhere."""
        return nullcontext()

    def validate(self) -> None:
        """Raise ValueError, one line naming the key, the value and what is allowed, for a bad parameter."""

    def check_dim(self, dim: int) -> None:
        """Raise ValueError, one line, where the objective cannot take D = ``dim`` coordinates."""

    def optimum(self, theta0: float, sigma: float) -> Optimum | None:
        """θ* and J* (at D = 1) that ``theta/rms_error`` and ``steps_to_tolerance`` measure against."""
        if self.theta_star is None:
            return None
        mu = torch.tensor([self.theta_star], dtype=torch.float64)
        value = self.expectation(mu, sigma)
        return Optimum(self.theta_star, None if value is None else float(value))

    # Closed forms under q = N(μ, diag σ²), whole vector.

    def expectation(self, mu: Tensor, sigma: Tensor | float) -> Tensor | None:
        """J(μ, σ) = E_q[f], [...]."""
        return None

    def gradient(self, mu: Tensor, sigma: Tensor | float) -> Tensor | None:
        """∇_μ J, [..., D]."""
        return None

    def scale_gradient(self, mu: Tensor, sigma: Tensor | float, learned: str) -> Tensor | None:
        """∂J/∂s for s = log σ: [..., D] (diagonal), [..., 1] (shared), None when ``fixed``."""
        return None

    def curvature_free(self) -> bool:
        """E_q[∂²f/∂x_i²] is the same constant everywhere (a quadratic cost): what makes σ* of the
        entropy-weighted objective a closed form (``GaussianFamily.sigma_star``)."""
        return False

    def second_order(self) -> bool:
        """f is a polynomial of degree at most two, so its second-order Taylor expansion is f itself
        and the delta-method control variate removes the whole variance."""
        return False

    def term_variances(self, name: str, mu: Tensor, sigma: Tensor | float) -> Tensor | None:
        """The variance of one term of estimator ``name``'s μ-gradient, per coordinate [..., D]."""
        return None

    def antithetic_variances(self, mu: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        """Var of the mean of an antithetic pair's two μ-terms (ε and −ε), per coordinate [..., D],
        by estimator name, where derived."""
        return {}

    def term_covariances(self, mu: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        """Cov(μ_i-term, μ_j-term) for i ≠ j, [..., D, D], zero on the diagonal, by estimator name."""
        return {}

    def leave_one_out_variances(
        self, score_variances: Tensor, mu: Tensor, sigma: Tensor | float, n: int
    ) -> Tensor | None:
        """n·Var of the leave-one-out estimate per coordinate, from the score function's variances."""
        return None

    def optimal_q(self, entropy_weight: float) -> tuple[Tensor, Tensor] | None:
        """(μ*, σ*), [D] each in float64: the diagonal Gaussian q that minimises J_λ = E_q f − λH(q)
        for λ = ``entropy_weight`` > 0, for a model that has it (in closed form or by a
        deterministic optimiser); None elsewhere, and for λ ≤ 0, where σ* → 0."""
        return None

    def log_evidence(self) -> float | None:
        """log p(y), for a model that has it in closed form."""
        return None

    def optimal_elbo(self) -> float | None:
        """The best ELBO a diagonal Gaussian q reaches, where it is known."""
        return None

    def scale_term_variance(
        self, name: str, mu: Tensor, sigma: Tensor | float, learned: str
    ) -> Tensor | None:
        """The variance of one s-term of estimator ``name``, summed over scale coordinates, [...]."""
        return None


def check_k(objective: Objective, positive: bool) -> None:
    """The one-line error for an out-of-domain k."""
    k = objective.k
    if not math.isfinite(k) or (positive and k <= 0):
        allowed = "a finite number > 0" if positive else "a finite number"
        raise ValueError(
            f"objective.k={k} is not allowed for objective={objective.name}: k must be {allowed}"
        )


def as_tensor(sigma: Tensor | float, like: Tensor) -> Tensor:
    return torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
