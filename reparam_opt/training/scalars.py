"""The per-step scalars of a run: θ across replicates, the loss, the estimate against ∇J, its variances.

One function computes them for a block of logged steps at once ([steps, replicates, P] in, one
value per step out) and, through ``at_step``, for a single step over its live replicates. In D
dimensions ``theta/*`` and ``grad/mean``/``grad/exact`` average over replicates and coordinates
(quantiles and replicate 0 follow coordinate 0), ``theta/rms_error`` is the RMS over replicates of
‖μ − μ*‖, and the variances are traces: summed over coordinates, averaged over replicates. A
learned scale adds the same for σ and its log-scale gradient under ``scale/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from reparam_opt.estimators import Estimator
from reparam_opt.families.gaussian import GaussianFamily
from reparam_opt.objectives import Objective, separable
from reparam_opt.training.metrics import across_replicates, quantiles


def in_step_variance(estimator: Estimator, terms: Tensor, grad: Tensor) -> Tensor | None:
    """Per replicate and parameter, the in-step estimate of Var(estimate); None for n = 1, which has none."""
    return estimator.variance_of_mean(terms, grad) if terms.shape[-2] > 1 else None


def average(values: Tensor) -> Tensor:
    """The mean over replicates and coordinates: [..., replicates, D] gives [...]."""
    return values.flatten(-2).mean(-1)


def theta_scalars(
    mu: Tensor, mu_star: float | None, replicate0: Tensor | None, diverged: Tensor
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
    family: GaussianFamily
    theta_star: float | None
    n_samples: int
    sigma_star: float | None = None

    def __call__(
        self,
        theta: Tensor,
        grad: Tensor,
        variance: Tensor | None,
        replicate0: Tensor | None,
        diverged: Tensor,
    ) -> dict[str, Tensor | None]:
        """The scalars of each row: θ, gradient, variance [steps, live replicates, P]; values [steps]."""
        if self.family.name == "bernoulli":
            return self.discrete_scalars(theta, grad, variance, replicate0, diverged)
        family, n = self.family, self.n_samples
        mu, sigma = family.loc(theta), family.sigma_of(theta)
        value = separable.value(self.objective, mu, sigma)
        if value is not None and family.entropy_weight != 0:
            value = value - family.entropy_weight * family.entropy(sigma)
        exact = self.objective.grad(mu, sigma)
        analytic = self.estimator.closed_form_variance(self.objective, mu, sigma, n)
        scalars = {
            **theta_scalars(mu, self.theta_star, replicate0, diverged),
            "objective/mean": None if value is None else value.mean(-1),
            "grad/mean": average(family.loc(grad)),
            "grad/exact": None if exact is None else average(exact),
            "grad/variance": None if variance is None else family.loc(variance).sum(-1).mean(-1),
            "grad/variance_analytic": None if analytic is None else (analytic / n).mean(-1),
        }
        if family.learned:
            scalars.update(self.scale_scalars(mu, sigma, grad, variance))
        return scalars

    def discrete_scalars(
        self,
        theta: Tensor,
        grad: Tensor,
        variance: Tensor | None,
        replicate0: Tensor | None,
        diverged: Tensor,
    ) -> dict[str, Tensor | None]:
        """The Bernoulli family's scalars: θ is the logit [steps, replicates, 1]; p = σ(θ) beside it,
        and ``grad/log_variance``, ln of the single-sample variance n·Var(estimate), as RELAX Fig. 1,
        beside its closed form where there is one. A step whose sample variances are all 0 logs no
        ``grad/log_variance`` (ln 0): rare outcomes carry a baseline's variance once p is small."""
        objective, n = self.objective, self.n_samples
        analytic = self.family.closed_form_variance(self.estimator.name, objective, theta, n)
        in_step = None if variance is None else variance[..., 0].mean(-1)
        return {
            **theta_scalars(theta, None, replicate0, diverged),
            "prob/mean": average(theta.sigmoid()),
            "objective/mean": objective.value(theta)[..., 0].mean(-1),
            "grad/mean": average(grad),
            "grad/exact": average(objective.grad(theta)),
            "grad/variance": in_step,
            "grad/variance_analytic": None if analytic is None else (analytic / n).mean(-1),
            "grad/log_variance": None if in_step is None else (in_step * n).log(),
            "grad/log_variance_analytic": None if analytic is None else analytic.mean(-1).log(),
        }

    def scale_scalars(
        self, mu: Tensor, sigma: Tensor, grad: Tensor, variance: Tensor | None
    ) -> dict[str, Tensor | None]:
        """σ across replicates and the log-scale gradient against its closed form, [steps] each."""
        family, n, dim = self.family, self.n_samples, self.family.dim
        exact = separable.scale_grad(self.objective, mu, sigma, family.scale)
        entropy = family.entropy_grad(mu.new_zeros(()))
        if exact is not None and entropy is not None:
            exact = exact + entropy[dim:]
        analytic = self.estimator.closed_form_scale_variance(self.objective, mu, sigma, family.scale)
        q05, q95 = quantiles(sigma[..., 0])
        error = None if self.sigma_star is None else average((sigma - self.sigma_star).square()).sqrt()
        return {
            "scale/mean": average(sigma),
            "scale/q05": q05,
            "scale/q95": q95,
            "scale/rms_error": error,
            "scale/grad_mean": average(grad[..., dim:]),
            "scale/grad_exact": None if exact is None else average(exact),
            "scale/grad_variance": None if variance is None else variance[..., dim:].sum(-1).mean(-1),
            "scale/grad_variance_analytic": None if analytic is None else (analytic / n).mean(-1),
        }

    def at_step(
        self, theta: Tensor, grad: Tensor, alive: Tensor, variance: Tensor | None = None
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
        )
        return {tag: None if value is None else value[0] for tag, value in rows.items()}


def step_scalars(
    theta: Tensor,
    terms: Tensor,
    alive: Tensor,
    objective: Objective,
    estimator: Estimator,
    family: GaussianFamily,
    theta_star: float | None = None,
    grad: Tensor | None = None,
) -> dict[str, Tensor | None]:
    """The scalars of one step over its live replicates, as 0-d tensors (``StepScalars.at_step``).

    ``theta`` [replicates, P], ``terms`` [replicates, n, P]; ``grad`` defaults to the terms' mean.
    """
    scalars = StepScalars(objective, estimator, family, theta_star, terms.shape[-2])
    grad = terms.mean(-2) if grad is None else grad
    return scalars.at_step(theta, grad, alive, in_step_variance(estimator, terms, terms.mean(-2)))
