"""Monte Carlo estimators of ∇θ E_{x~N(θ,σ²)}[f(x)], and the registry that describes them.

Each estimator is one function with the same signature, after DeepMind's mc_gradients:
``estimator(cost, dist, n_samples) -> Tensor[replicates, n_samples]``, the per-sample gradient
terms for every replicate. Their mean over the last axis is the estimate; their sample
variance over that axis, divided by n, is the in-step variance of the estimate.

``@estimator(...)`` wraps the function in its ``Estimator``: what it costs in evaluations of f,
the fewest samples it works with, how its in-step variance is estimated and where its closed-form
variance comes from. ``ESTIMATORS`` lists them by name. A config's ``_target_`` names the
``Estimator`` itself (``reparam_opt.estimators.score``), so a new estimator is a function, its
entry in ``ESTIMATORS`` and a YAML file in ``conf/estimator/``. The terms and their variances are
derived in docs/maths.md.

The sampling estimators differentiate with torch autograd, never a hand-written f', so a new
cost is one function. Per-sample terms come from a leaf per sample: pathwise differentiates
through a broadcast view of θ, one entry per sample; the score estimators differentiate
log q with respect to the draws themselves, since θ is a location parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Normal, Weibull

from reparam_opt.objectives import Objective

#: The per-sample terms of one estimator: ``(cost, dist, n_samples) -> [replicates, n_samples]``.
TermsFn = Callable[[Objective, Normal, int], Tensor]


def sample_variance_of_mean(terms: Tensor, mean: Tensor | None = None) -> Tensor:
    """Per replicate, the in-step estimate of Var(mean of n independent terms): sample variance / n.

    ``mean`` (the terms' mean over the last axis, if the caller has it) saves a pass; the sample
    variance is a norm of the centred terms, several times faster than ``Tensor.var`` on the CPU.
    """
    n = terms.shape[-1]
    mean = terms.mean(-1) if mean is None else mean
    return torch.linalg.vector_norm(terms - mean.unsqueeze(-1), dim=-1).square() / (n * (n - 1))


def independent_terms(
    estimator: Estimator, cost: Objective, theta: Tensor, sigma: Tensor | float, n: int
) -> Tensor | None:
    """Independent terms: one term's variance, which the cost knows for this estimator if anyone does."""
    closed_form = cost.per_sample_variances(theta, sigma).get(estimator.name)
    return None if closed_form is None else closed_form()


@dataclass(frozen=True)
class Estimator:
    """An estimator's terms function and what the rest of the project needs to know about it."""

    terms: TermsFn
    #: Evaluations of f per sample term (0 for ``exact``, which uses the closed form).
    f_evals_per_sample: int
    #: The fewest samples per estimate it works with (2 for a leave-one-out baseline).
    min_samples: int = 1
    #: The in-step estimate of Var(mean of the terms), per replicate.
    variance_of_mean: Callable[[Tensor, Tensor | None], Tensor] = sample_variance_of_mean
    #: n × Var(the n-sample estimate) in closed form: ``(estimator, cost, θ, σ, n) -> Tensor | None``.
    closed_form: Callable[[Estimator, Objective, Tensor, float, int], Tensor | None] = independent_terms

    @property
    def name(self) -> str:
        return self.terms.__name__

    def __call__(self, cost: Objective, dist: Normal, n_samples: int) -> Tensor:
        return self.terms(cost, dist, n_samples)

    def closed_form_variance(
        self, cost: Objective, theta: Tensor, sigma: Tensor | float, n_samples: int = 1
    ) -> Tensor | None:
        """n × Var(the n-sample estimate) at θ, or None without a closed form.

        For independent terms this is the variance of one term, whatever n; the leave-one-out
        terms are correlated and their figure depends on n.
        """
        return self.closed_form(self, cost, theta, sigma, n_samples)

    def f_evals_per_step(self, n_samples: int) -> int:
        """Evaluations of f per replicate per step."""
        return self.f_evals_per_sample * n_samples


def estimator(**spec) -> Callable[[TermsFn], Estimator]:
    """Make a terms function into its ``Estimator``: ``@estimator(f_evals_per_sample=1)``."""
    return lambda terms: Estimator(terms, **spec)


# Where the other estimators' closed-form variances come from.


def no_variance(
    estimator: Estimator, cost: Objective, theta: Tensor, sigma: Tensor | float, n: int
) -> Tensor:
    return torch.zeros_like(theta)


def leave_one_out(
    estimator: Estimator, cost: Objective, theta: Tensor, sigma: Tensor | float, n: int
) -> Tensor | None:
    """n·Var of the leave-one-out estimate, from the score function's variance and moments of f.

    n·Var(mean) = V_oracle + (Var f / σ² + (∇J)²)/(n − 1), V_oracle = V_score − 2J J'' − J²/σ²
    (docs/maths.md, "The leave-one-out baseline").
    """
    if n < 2:
        return None
    parts = (
        score.closed_form_variance(cost, theta, sigma),
        cost.value(theta, sigma),
        cost.grad(theta, sigma),
        cost.curvature(theta, sigma),
        cost.second_moment(theta, sigma),
    )
    if any(part is None for part in parts):
        return None
    v_score, value, grad, curvature, second = parts
    s2 = sigma**2
    oracle = v_score - 2.0 * value * curvature - value.square() / s2
    return oracle + ((second - value.square()) / s2 + grad.square()) / (n - 1)


# The estimators.


def _per_sample_normal(dist: Normal, n_samples: int) -> tuple[Tensor, Normal]:
    """A Normal of shape [replicates, n_samples] whose loc is a fresh leaf, one per sample.

    The leaf is a broadcast view of θ (no copy); autograd still gives it a gradient of its
    full shape, one entry per sample, which is what makes the terms per-sample.
    """
    shape = (*dist.batch_shape, n_samples)
    loc = dist.loc.detach().unsqueeze(-1).expand(shape).requires_grad_(True)
    # The parameters are valid by construction; argument validation would cost a pass over them.
    return loc, Normal(loc, dist.scale.detach().unsqueeze(-1).expand(shape), validate_args=False)


def _draws_and_log_density(dist: Normal, n_samples: int) -> tuple[Tensor, Tensor]:
    """n draws per replicate, as the autograd leaf, and log q(x) for each: the score estimators' inputs.

    θ is the location of N(θ, σ²), so ∂θ log q(x) = −∂x log q(x): differentiating with respect
    to the drawn x gives every sample's score without a per-sample copy of θ, and keeps σ (and
    log σ inside ``log_prob``) at one value per replicate instead of one per sample.
    """
    q = Normal(dist.loc.detach().unsqueeze(-1), dist.scale.detach().unsqueeze(-1), validate_args=False)
    with torch.no_grad():  # x is drawn, not differentiated; θ + σε is sample()'s law at half its cost
        x = q.expand((*dist.batch_shape, n_samples)).rsample()
    x.requires_grad_(True)
    return x, q.log_prob(x)


@estimator(f_evals_per_sample=1)
def score(cost: Objective, dist: Normal, n_samples: int) -> Tensor:
    """Score function (REINFORCE): f(x) ∂θ log q(x), with x sampled and not differentiated."""
    x, log_q = _draws_and_log_density(dist, n_samples)
    # f(x) weighs each sample's −∂x log q(x) in one vector-Jacobian product.
    (terms,) = torch.autograd.grad(log_q, x, grad_outputs=cost(x.detach()))
    return terms.neg_()


@estimator(f_evals_per_sample=1)
def pathwise(cost: Objective, dist: Normal, n_samples: int) -> Tensor:
    """Pathwise (reparameterisation): d f(θ + σε)/dθ through ``rsample``."""
    loc, q = _per_sample_normal(dist, n_samples)
    x = q.rsample()
    (terms,) = torch.autograd.grad(cost(x), loc, grad_outputs=x.new_ones(()).expand_as(x))
    return terms


@estimator(f_evals_per_sample=0, closed_form=no_variance)
def exact(cost: Objective, dist: Normal, n_samples: int) -> Tensor:
    """The closed-form ∇J repeated n times: the zero-variance reference."""
    grad = cost.grad(dist.loc.detach(), dist.scale)
    if grad is None:
        raise ValueError(f"estimator=exact needs a closed-form gradient; {type(cost).__name__} has none")
    return grad.unsqueeze(-1).expand(*dist.batch_shape, n_samples)


def _leave_one_out_variance_of_mean(terms: Tensor, mean: Tensor | None = None) -> Tensor:
    """Unbiased in-step estimate of Var(mean) for leave-one-out terms, which are correlated.

    Exchangeable terms with variance V and pairwise covariance C: E[sample variance S] = V − C and
    Var(mean) = S/n + C in expectation. For the leave-one-out baseline C = ∇J²/(n−1)², and
    E[mean²] = ∇J² + Var(mean) gives C = E[mean² − S/n] / ((n−1)² + 1).
    """
    n = terms.shape[-1]
    s_over_n = terms.var(-1) / n
    return s_over_n + (terms.mean(-1).square() - s_over_n) / ((n - 1) ** 2 + 1)


@estimator(
    f_evals_per_sample=1,
    min_samples=2,
    variance_of_mean=_leave_one_out_variance_of_mean,
    closed_form=leave_one_out,
)
def score_baseline(cost: Objective, dist: Normal, n_samples: int) -> Tensor:
    """Score function, leave-one-out baseline: (f(x_i) − mean_{j≠i} f(x_j)) ∂θ log q(x_i); unbiased."""
    if n_samples < 2:
        raise ValueError(
            f"estimator=score_baseline needs n_samples >= 2 (a leave-one-out baseline); got {n_samples}"
        )
    x, log_q = _draws_and_log_density(dist, n_samples)
    fx = cost(x.detach())
    baseline = (fx.sum(-1, keepdim=True) - fx) / (n_samples - 1)
    (terms,) = torch.autograd.grad(log_q, x, grad_outputs=fx - baseline)
    return terms.neg_()


#: 1/(σ√(2π)): the mass of the positive part of ∂θ N(x; θ, σ²), times σ.
_MV_CONSTANT = 1.0 / math.sqrt(2.0 * math.pi)


@estimator(f_evals_per_sample=2)
def measure_valued(cost: Objective, dist: Normal, n_samples: int) -> Tensor:
    """Coupled weak derivative of the Gaussian mean: (f(θ+σw) − f(θ−σw))/(σ√(2π)), w ~ Weibull(√2, 2).

    ∂θ N(x; θ, σ²) splits into a positive and a negative part, θ ± σ·Rayleigh(1), each of mass
    1/(σ√(2π)); Rayleigh(1) is Weibull(scale √2, shape 2). The same w on both sides couples them.
    f is evaluated, never differentiated.
    """
    theta, sigma = dist.loc.detach().unsqueeze(-1), dist.scale.detach().unsqueeze(-1)
    like = dict(dtype=theta.dtype, device=theta.device)
    rayleigh = Weibull(torch.tensor(math.sqrt(2.0), **like), torch.tensor(2.0, **like))
    w = rayleigh.sample((*dist.batch_shape, n_samples))
    with torch.no_grad():
        return (cost(theta + sigma * w) - cost(theta - sigma * w)) * (_MV_CONSTANT / sigma)


#: The registry: every estimator by name, in the order tables and figures list them.
ESTIMATORS: dict[str, Estimator] = {
    e.name: e for e in (score, score_baseline, pathwise, measure_valued, exact)
}
