"""The per-step scalars of a run: θ across replicates, then what its family logs (the loss, the
estimate against ∇J, its variances).

One function computes them for a block of logged steps at once ([steps, replicates, P] in, one
value per step out) and, through ``at_step``, for a single step over its live replicates. In D
dimensions ``theta/*`` average over replicates and coordinates (quantiles and replicate 0 follow
coordinate 0), and ``theta/rms_error`` is the RMS over replicates of ‖μ − μ*‖. What else a step
shows is the family's (``Family.scalars``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from reparam_opt.estimators import Estimator
from reparam_opt.families import Family
from reparam_opt.objectives import Objective
from reparam_opt.training.loss import loss_scalars
from reparam_opt.training.metrics import across_replicates


def in_step_variance(estimator: Estimator, terms: Tensor, grad: Tensor) -> Tensor | None:
    """Per replicate and parameter, the in-step estimate of Var(estimate); None for n = 1, which has none."""
    return estimator.variance_of_mean(terms, grad) if terms.shape[-2] > 1 else None


def has_in_step_variance(estimator: Estimator, n_samples: int) -> bool:
    """Whether a step of n samples gives an in-step variance: not for n = 1, nor where the draws'
    independent units are too few or the terms too correlated to estimate it honestly
    (``estimators/reduction.py``)."""
    return n_samples > 1 and estimator.variance_of_mean(torch.zeros(1, n_samples, 1), None) is not None


def theta_scalars(
    mu: Tensor, mu_star: Tensor | float | None, replicate0: Tensor | None, diverged: Tensor
) -> dict[str, Tensor | None]:
    """What every family logs of θ: replicate 0, the diverged count, the statistics across replicates."""
    return {
        "theta/replicate0": replicate0,  # None once replicate 0 diverged: a diverged θ is never plotted
        "theta/diverged": diverged,
        **across_replicates(mu, mu_star),
    }


@dataclass(frozen=True)
class StepScalars:
    """The per-step scalars of one run: what they are measured against, and how to compute them."""

    objective: Objective
    estimator: Estimator
    family: Family
    theta_star: Tensor | float | None
    n_samples: int
    sigma_star: float | Tensor | None = None
    #: The logged loss's draws per replicate (``loss.draws_per_replicate``); 0: ``n_samples``.
    loss_draws: int = 0

    def __call__(
        self,
        theta: Tensor,
        grad: Tensor,
        variance: Tensor | None,
        replicate0: Tensor | None,
        diverged: Tensor,
        loss: Tensor | None = None,
    ) -> dict[str, Tensor | None]:
        """The scalars of each row: θ, gradient, variance [steps, live replicates, P]; values [steps].
        ``loss``: the sampled loss per replicate [steps, live replicates, 2] (``loss.py``)."""
        rows = {
            **theta_scalars(self.family.loc(theta), self.theta_star, replicate0, diverged),
            **self.family.scalars(self, theta, grad, variance),
            **loss_scalars(loss, self.loss_draws or self.n_samples),
        }
        if "elbo/value" in rows:  # J is −ELBO: the loss's estimate is the ELBO's, negated
            sampled = rows["loss/monte_carlo"]
            rows["elbo/monte_carlo"] = None if sampled is None else -sampled
        return rows

    def at_step(
        self,
        theta: Tensor,
        grad: Tensor,
        alive: Tensor,
        variance: Tensor | None = None,
        loss: Tensor | None = None,
    ) -> dict[str, Tensor | None]:
        """The scalars of one step over its live replicates, as 0-d tensors.

        ``variance`` is per replicate (in-step, or from extra draws); only the [replicates, P]
        rows are masked, so a step never copies the [replicates, n_samples, P] terms.
        """
        rows = self(
            theta[alive][None],
            grad[alive][None],
            None if variance is None else variance[alive][None],
            theta[0, 0][None] if alive[0] else None,
            (~alive).sum()[None],
            None if loss is None else loss[alive][None],
        )
        return {tag: None if value is None else value[0] for tag, value in rows.items()}


def step_scalars(
    theta: Tensor,
    terms: Tensor,
    alive: Tensor,
    objective: Objective,
    estimator: Estimator,
    family: Family,
    theta_star: Tensor | float | None = None,
    grad: Tensor | None = None,
) -> dict[str, Tensor | None]:
    """The scalars of one step over its live replicates, as 0-d tensors (``StepScalars.at_step``).

    ``theta`` [replicates, P], ``terms`` [replicates, n, P]; ``grad`` defaults to the terms' mean.
    """
    scalars = StepScalars(objective, estimator, family, theta_star, terms.shape[-2])
    grad = terms.mean(-2) if grad is None else grad
    return scalars.at_step(theta, grad, alive, in_step_variance(estimator, terms, terms.mean(-2)))
