"""The pathwise (reparameterisation) estimators: ∇ f(μ + σε) through ``rsample``, for μ and s = log σ.

Per-sample terms come from a leaf per sample: a broadcast view of each parameter, one entry per
sample (``sampling.per_sample_leaves``), so autograd returns one gradient per sample without a copy.

``pathwise`` estimates ∇E_q[f] only; the loop adds the entropy term's exact gradient. The other two
estimate the whole of J_λ = E_q[f + λ log q] from their samples (``includes_entropy``), the
entropy's gradient through the sample, as variational inference meets it in practice:

- ``trace_elbo``: ∇ of f(x) + λ log q_θ(x) at x = μ + σε, q's parameters differentiated inside
  log q as well as through x, as Pyro's ``Trace_ELBO`` does with a reparameterised guide. For a
  Gaussian the two paths of log q cancel exactly, so its terms are ``pathwise``'s plus the exact
  entropy gradient, to rounding;
- ``stl``, sticking the landing (Roeder, Wu and Duvenaud 2017): the same with q's parameters
  held fixed inside log q, dropping its score term, whose expectation is zero. Where q ∝ exp(−f/λ)
  its variance is zero; at the mean-field optimum of a quadratic it is smaller than pathwise's
  (docs/maths.md, "Sticking the landing").
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Normal

from reparam_opt.estimators import sampling
from reparam_opt.estimators.spec import Estimator, no_closed_form


def gaussian_pathwise(cost, q, n_samples: int) -> Tensor:
    """∇ f(μ + σε) per sample, differentiated by autograd, never a hand-written f'."""
    leaves, normal = sampling.per_sample_leaves(q, n_samples)
    x = q.draws.rsample(normal, normal.batch_shape)
    f = cost(x)
    grads = torch.autograd.grad(f, leaves, grad_outputs=f.new_ones(()).expand_as(f))
    return grads[0] if len(grads) == 1 else torch.cat(grads, dim=-1)


def whole_objective(cost, q, n_samples: int, entropy_weight: float, stick: bool) -> Tensor:
    """∇ [f(x) + λ log q(x)] per sample, x = μ + σε; with ``stick``, q's parameters fixed in log q."""
    leaves, normal = sampling.per_sample_leaves(q, n_samples)
    x = q.draws.rsample(normal, normal.batch_shape)
    density = normal if not stick else Normal(normal.loc.detach(), normal.scale.detach(), validate_args=False)
    total = cost(x) + entropy_weight * density.log_prob(x).sum(-1)
    grads = torch.autograd.grad(total, leaves, grad_outputs=total.new_ones(()).expand_as(total))
    return grads[0] if len(grads) == 1 else torch.cat(grads, dim=-1)


def gaussian_trace_elbo(cost, q, n_samples: int, entropy_weight: float = 0.0) -> Tensor:
    return whole_objective(cost, q, n_samples, entropy_weight, stick=False)


def gaussian_stl(cost, q, n_samples: int, entropy_weight: float = 0.0) -> Tensor:
    return whole_objective(cost, q, n_samples, entropy_weight, stick=True)


def same_as_pathwise(estimator: Estimator, cost, mu: Tensor, sigma, n: int) -> Tensor | None:
    """``trace_elbo``'s μ-terms are pathwise's: log q's two paths cancel for a Gaussian."""
    return cost.term_variances("pathwise", mu, sigma)


def pathwise_scale_terms(estimator: Estimator, cost, mu: Tensor, sigma, learned: str) -> Tensor | None:
    """Its s-terms are pathwise's plus the exact (constant) entropy gradient: the same variance."""
    return cost.scale_term_variance("pathwise", mu, sigma, learned)


pathwise = Estimator(
    "pathwise",
    {"gaussian": gaussian_pathwise},
    f_evals_per_sample=1,
    why_not={
        "bernoulli": "b is discrete, so f(b) has no path to θ to differentiate; use concrete or "
        "straight_through for a relaxed gradient, or score or score_baseline for an unbiased one"
    },
)

#: Why neither whole-objective estimator applies to the Bernoulli family.
NOT_DISCRETE = {"bernoulli": "b is discrete, so f(b) + λ log q(b) has no path to θ to differentiate"}

trace_elbo = Estimator(
    "trace_elbo",
    {"gaussian": gaussian_trace_elbo},
    f_evals_per_sample=1,
    closed_form=same_as_pathwise,
    scale_closed_form=pathwise_scale_terms,
    why_not=NOT_DISCRETE,
    includes_entropy=True,
)

stl = Estimator(
    "stl",
    {"gaussian": gaussian_stl},
    f_evals_per_sample=1,
    closed_form=no_closed_form,
    scale_closed_form=no_closed_form,
    why_not=NOT_DISCRETE,
    includes_entropy=True,
)
