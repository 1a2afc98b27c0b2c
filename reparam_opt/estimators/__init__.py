"""Monte Carlo estimators of ∇ E_{x~q}[f(x)], and the registry that describes them.

This module holds the Gaussian family's terms functions and every ``Estimator`` entry; the
Bernoulli family's terms are in ``discrete.py`` and ``control_variates.py``, and an entry names
its terms for each family it applies to (``estimator_spec.Estimator``).

Each estimator is one function with the same signature, after DeepMind's mc_gradients:
``estimator(cost, q, n_samples) -> Tensor[replicates, n_samples, P]``, the per-sample gradient
terms for every replicate and every learned parameter: the D coordinates of μ, then the S
log-scale coordinates of a learned σ (``gaussian.Gaussian``). Their mean over the samples is the
estimate; their sample variance over the samples, divided by n, is its in-step variance.

``@estimator(...)`` wraps the function in its ``Estimator`` (``estimator_spec.py``): what it
costs in evaluations of f, the fewest samples it works with, how its in-step variance is
estimated and where its closed-form variances come from. ``ESTIMATORS`` lists them by name. A
config's ``_target_`` names the ``Estimator`` itself (``reparam_opt.estimators.score``), so a new
estimator is a function, its entry in ``ESTIMATORS`` and a YAML file in ``conf/estimator/``. The
terms and their variances are derived in docs/maths.md.

The sampling estimators differentiate with torch autograd, never a hand-written f', so a new
cost is one function. Per-sample terms come from a leaf per sample: pathwise differentiates
through broadcast views of μ and s, one entry per sample; the score estimators differentiate
log q with respect to the draws themselves for μ (a location parameter) and with respect to a
per-sample view of s for the scale (``reparam_opt/estimators/sampling.py``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Uniform, Weibull

from reparam_opt.estimators import control_variates, discrete, sampling
from reparam_opt.estimators.spec import (
    Estimator,
    discrete_only,
    estimator,
    no_closed_form,
    no_scale_variance,
    no_variance,
    sample_variance_of_mean,
)
from reparam_opt.families.gaussian import Gaussian
from reparam_opt.objectives import Objective, separable

__all__ = ["ESTIMATORS", "Estimator", "estimator", "sample_variance_of_mean"]


def leave_one_out(
    estimator: Estimator, cost: Objective, mu: Tensor, sigma: Tensor | float, n: int
) -> Tensor | None:
    """n·Var of the leave-one-out estimate, from the score function's variance and moments of f."""
    if n < 2:
        return None
    v_score = score.closed_form(score, cost, mu, sigma, 1)
    return None if v_score is None else separable.leave_one_out_variances(v_score, cost, mu, sigma, n)


# The estimators.


@estimator(f_evals_per_sample=1, bernoulli=discrete.score)
def score(cost: Objective, q: Gaussian, n_samples: int) -> Tensor:
    """Score function (REINFORCE): f(x) ∇ log q(x), with x sampled and not differentiated."""
    leaves, log_q = sampling.draws_and_log_density(q, n_samples)
    # f(x) weighs each sample's scores in one vector-Jacobian product.
    return sampling.weighted_scores(leaves, log_q, separable.cost(cost, leaves[0].detach()))


@estimator(
    f_evals_per_sample=1,
    not_discrete="b is discrete, so f(b) has no path to θ to differentiate; use concrete or "
    "straight_through for a relaxed gradient, or score or score_baseline for an unbiased one",
)
def pathwise(cost: Objective, q: Gaussian, n_samples: int) -> Tensor:
    """Pathwise (reparameterisation): ∇ f(μ + σε) through ``rsample``, for μ and s = log σ."""
    leaves, normal = sampling.per_sample_leaves(q, n_samples)
    x = normal.rsample()
    f = separable.cost(cost, x)
    grads = torch.autograd.grad(f, leaves, grad_outputs=f.new_ones(()).expand_as(f))
    return grads[0] if len(grads) == 1 else torch.cat(grads, dim=-1)


def _exact_gradient(cost: Objective, q: Gaussian) -> Tensor:
    """∇ E_q[f] in closed form, [R, P]."""
    grad = cost.grad(q.loc.detach(), q.scale)
    scale_grad = separable.scale_grad(cost, q.loc.detach(), q.scale.detach(), q.learned)
    if grad is None or (q.learned != "fixed" and scale_grad is None):
        raise ValueError(f"estimator=exact needs a closed-form gradient; {type(cost).__name__} has none")
    return grad if scale_grad is None else torch.cat([grad, scale_grad], dim=-1)


@estimator(
    f_evals_per_sample=0,
    closed_form=no_variance,
    scale_closed_form=no_scale_variance,
    bernoulli=discrete.exact,
)
def exact(cost: Objective, q: Gaussian, n_samples: int) -> Tensor:
    """The closed-form gradient repeated n times: the zero-variance reference."""
    grad = _exact_gradient(cost, q)
    return grad.unsqueeze(-2).expand(*grad.shape[:-1], n_samples, grad.shape[-1])


def _leave_one_out_variance_of_mean(terms: Tensor, mean: Tensor | None = None) -> Tensor:
    """Unbiased in-step estimate of Var(mean) for leave-one-out terms, which are correlated.

    Exchangeable terms with variance V and pairwise covariance C: E[sample variance S] = V − C and
    Var(mean) = S/n + C in expectation. For the leave-one-out baseline C = (∂J)²/(n−1)², and
    E[mean²] = (∂J)² + Var(mean) gives C = E[mean² − S/n] / ((n−1)² + 1).
    """
    n = terms.shape[-2]
    s_over_n = terms.var(-2) / n
    return s_over_n + (terms.mean(-2).square() - s_over_n) / ((n - 1) ** 2 + 1)


@estimator(
    f_evals_per_sample=1,
    min_samples=2,
    variance_of_mean=_leave_one_out_variance_of_mean,
    closed_form=leave_one_out,
    scale_closed_form=no_closed_form,
    bernoulli=discrete.score_baseline,
)
def score_baseline(cost: Objective, q: Gaussian, n_samples: int) -> Tensor:
    """Score function, leave-one-out baseline: (f(x_i) − mean_{j≠i} f(x_j)) ∇ log q(x_i); unbiased."""
    if n_samples < 2:
        raise ValueError(
            f"estimator=score_baseline needs n_samples >= 2 (a leave-one-out baseline); got {n_samples}"
        )
    leaves, log_q = sampling.draws_and_log_density(q, n_samples)
    fx = separable.cost(cost, leaves[0].detach())
    baseline = (fx.sum(-1, keepdim=True) - fx) / (n_samples - 1)
    return sampling.weighted_scores(leaves, log_q, fx - baseline)


#: 1/(σ√(2π)): the mass of the positive part of ∂μ N(x; μ, σ²), times σ.
_MV_CONSTANT = 1.0 / math.sqrt(2.0 * math.pi)


@estimator(
    f_evals_per_sample=2,
    per_coordinate=True,
    draws_once=False,  # its Weibull draws, then q's for the other coordinates and the scale's
    not_discrete="its weak derivative is the Gaussian's; on a Bernoulli the exact gradient is one "
    "difference f(1) − f(0), which estimator=exact computes",
)
def measure_valued(cost: Objective, q: Gaussian, n_samples: int) -> Tensor:
    """Coupled weak derivatives of the Gaussian, a coordinate at a time; f is evaluated, never differentiated.

    μ: ∂μ N(x; μ, σ²) splits into a positive and a negative part, μ ± σ·Rayleigh(1), each of mass
    1/(σ√(2π)); Rayleigh(1) is Weibull(scale √2, shape 2), and the same w on both sides couples
    them: (f(μ+σw) − f(μ−σw))/(σ√(2π)). σ: ∂σ N = (double-sided Maxwell − N)/σ; with M a
    double-sided Maxwell draw and U ~ Uniform(0, 1), M·U is a standard normal coupled to M
    (mc_gradients), and the s-term is σ·∂σ: f(μ+σM) − f(μ+σMU). The other coordinates come from
    one draw of q, shared by both sides.
    """
    mu, sigma = q.loc.detach().unsqueeze(-2), q.sample_scale
    shape = q.sample_shape(n_samples)
    like = dict(dtype=mu.dtype, device=mu.device)
    rayleigh = Weibull(torch.tensor(math.sqrt(2.0), **like), torch.tensor(2.0, **like))
    w = rayleigh.sample(shape)
    with torch.no_grad():
        base = mu.expand(shape) if q.dim == 1 else q.normal().expand(shape).sample()
        at = sampling.one_coordinate_at_a_time
        difference = at(cost, base, mu + sigma * w) - at(cost, base, mu - sigma * w)
        terms = difference * (_MV_CONSTANT / sigma)
        if q.learned == "fixed":
            return terms
        maxwell = sampling.double_sided_maxwell(shape, mu)
        coupled = maxwell * Uniform(torch.tensor(0.0, **like), torch.tensor(1.0, **like)).sample(shape)
        scale_terms = at(cost, base, mu + sigma * maxwell) - at(cost, base, mu + sigma * coupled)
        if q.learned == "shared":
            scale_terms = scale_terms.sum(-1, keepdim=True)
        return torch.cat([terms, scale_terms], dim=-1)


#: The Bernoulli family's own estimators: the relaxations at temperature ``estimator.tau``;
#: REINFORCE with a moving-average baseline (``estimator.decay``); REBAR, η and τ fixed or learned
#: (``estimator.learn``), with three evaluations of f per sample; RELAX, one small network per replicate.
concrete = discrete_only(discrete.concrete)
straight_through = discrete_only(discrete.straight_through)
score_ema = discrete_only(discrete.score_ema, stateful=True)
rebar = discrete_only(control_variates.rebar, f_evals_per_sample=3, stateful=True)
relax = discrete_only(control_variates.relax, stateful=True)

#: The registry: every estimator by name, in the order tables and figures list them.
ESTIMATORS: dict[str, Estimator] = {
    e.name: e
    for e in (
        score,
        score_baseline,
        score_ema,
        pathwise,
        measure_valued,
        exact,
        concrete,
        straight_through,
        rebar,
        relax,
    )
}
