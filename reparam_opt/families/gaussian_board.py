"""What a Gaussian run shows per step: the loss, the estimate against ∇J, its variances against
their closed forms, and σ with its log-scale gradient when the scale is learned; and the Custom
Scalars page that charts them.

In D dimensions ``grad/mean`` and ``grad/exact`` average over replicates and coordinates, and the
variances are traces: summed over coordinates, averaged over replicates. A learned scale adds the
same for σ and its log-scale gradient under ``scale/``. A value without a closed form is None, and
no tag is written for it.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from reparam_opt.families.base import LOSS_LAYOUT, theta_layout
from reparam_opt.families.statistics import average, quantiles

#: Custom Scalars: variance beside its closed form, the estimate beside the exact gradient.
GRADIENT_LAYOUT = {
    "variance: in-step estimate vs closed form": ["Multiline", ["grad/variance", "grad/variance_analytic"]],
    "mean estimate vs exact gradient": ["Multiline", ["grad/mean", "grad/exact"]],
}

#: The same for a learned scale: σ as a band, the log-scale gradient and its variance.
SCALE_LAYOUT = {
    "scale": {
        "sigma: mean with q05-q95 band": ["Margin", ["scale/mean", "scale/q05", "scale/q95"]],
        "sigma: RMS error": ["Multiline", ["scale/rms_error"]],
        "log-scale gradient: mean estimate vs exact": ["Multiline", ["scale/grad_mean", "scale/grad_exact"]],
        "log-scale variance: in-step estimate vs closed form": [
            "Multiline",
            ["scale/grad_variance", "scale/grad_variance_analytic"],
        ],
    },
}


#: Where J is −ELBO: the ELBO, exact, beside the logged loss's negative.
ELBO_LAYOUT = {
    "elbo": {
        "ELBO: exact vs Monte Carlo": ["Multiline", ["elbo/value", "elbo/monte_carlo"]],
        "ELBO: mean and 5–95% band over replicates": ["Margin", ["elbo/value", "elbo/q05", "elbo/q95"]],
    }
}


def layout(learned: bool, in_step: str | None = None) -> dict[str, dict[str, list]]:
    """The Gaussian page: θ with its RMS error, the loss (and the ELBO where J is −ELBO), the
    gradient, and σ if it is learned. ``in_step``: how the in-step variance is estimated, where
    the draws are not independent (``families/draws.py``); the variance charts' titles say it."""
    page = {
        "theta": theta_layout(rms_error=True),
        **LOSS_LAYOUT,
        **ELBO_LAYOUT,
        "gradient": dict(GRADIENT_LAYOUT),
    }
    page = {**page, **SCALE_LAYOUT} if learned else page
    if in_step is None:
        return page
    how = f"in-step estimate ({in_step})"
    return {
        category: {title.replace("in-step estimate", how): chart for title, chart in charts.items()}
        for category, charts in page.items()
    }


def scalars(
    family: Any, run: Any, theta: Tensor, grad: Tensor, variance: Tensor | None
) -> dict[str, Tensor | None]:
    """The rows' scalars: θ, gradient, variance [steps, live replicates, P] give values [steps].

    ``run`` gives the objective, the estimator, n and σ* (``training.scalars.StepScalars``).
    """
    objective, n = run.objective, run.n_samples
    mu, sigma = family.loc(theta), family.sigma_of(theta)
    value = objective.expectation(mu, sigma)
    if value is not None and family.entropy_weight != 0:
        value = value - family.entropy_weight * family.entropy(sigma)
    exact = objective.gradient(mu, sigma)
    analytic = run.estimator.closed_form_variance(objective, mu, sigma, n)
    rows = {
        "objective/mean": None if value is None else value.mean(-1),
        "grad/mean": average(family.loc(grad)),
        "grad/exact": None if exact is None else average(exact),
        "grad/variance": None if variance is None else family.loc(variance).sum(-1).mean(-1),
        "grad/variance_analytic": None if analytic is None else (analytic / n).mean(-1),
    }
    if family.elbo(objective):
        rows.update(elbo_scalars(value))
    if family.learned:
        rows.update(scale_scalars(family, run, mu, sigma, grad, variance))
    return rows


def elbo_scalars(value: Tensor | None) -> dict[str, Tensor | None]:
    """The exact ELBO, −J, across the replicates: its mean and its 5% and 95% quantiles, [steps] each."""
    if value is None:
        return dict.fromkeys(("elbo/value", "elbo/q05", "elbo/q95"))
    q05, q95 = quantiles(-value)
    return {"elbo/value": -value.mean(-1), "elbo/q05": q05, "elbo/q95": q95}


def scale_scalars(
    family: Any, run: Any, mu: Tensor, sigma: Tensor, grad: Tensor, variance: Tensor | None
) -> dict[str, Tensor | None]:
    """σ across replicates and the log-scale gradient against its closed form, [steps] each."""
    n, dim = run.n_samples, family.dim
    exact = run.objective.scale_gradient(mu, sigma, family.scale)
    entropy = family.entropy_grad(mu.new_zeros(()))
    if exact is not None and entropy is not None:
        exact = exact + entropy[dim:]
    analytic = run.estimator.closed_form_scale_variance(run.objective, mu, sigma, family.scale)
    q05, q95 = quantiles(sigma[..., 0])
    error = None if run.sigma_star is None else average((sigma - run.sigma_star).square()).sqrt()
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
