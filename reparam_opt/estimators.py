"""Monte Carlo estimators of ∇θ E_{x~N(θ,σ²)}[f(x)].

Each estimator is one function with the same signature, after DeepMind's mc_gradients:
``estimator(cost, dist, n_samples) -> Tensor[replicates, n_samples]``, the per-sample gradient
terms for every replicate. Their mean over the last axis is the estimate; their sample
variance over that axis, divided by n, is the in-step variance of the estimate.

The sampling estimators differentiate with torch autograd, never a hand-written f', so a new
cost is one function. Per-sample terms come from a leaf per sample: pathwise differentiates
through a broadcast view of θ, one entry per sample; the score estimators differentiate
log q with respect to the draws themselves, since θ is a location parameter.
"""

from __future__ import annotations

import math
from typing import Callable, Protocol, TypeVar

import torch
from torch import Tensor
from torch.distributions import Normal, Weibull

from reparam_opt.objectives import Objective


class Estimator(Protocol):
    def __call__(self, cost: Objective, dist: Normal, n_samples: int) -> Tensor: ...


F = TypeVar("F", bound=Callable)


def costs(*, f_evals_per_sample: int, min_samples: int = 1) -> Callable[[F], F]:
    """Declare what an estimator costs: evaluations of f per sample term, and the fewest samples it needs."""

    def declare(estimator: F) -> F:
        estimator.f_evals_per_sample = f_evals_per_sample  # type: ignore[attr-defined]
        estimator.min_samples = min_samples  # type: ignore[attr-defined]
        return estimator

    return declare


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


@costs(f_evals_per_sample=1)
def score(cost: Objective, dist: Normal, n_samples: int) -> Tensor:
    """Score function (REINFORCE): f(x) ∂θ log q(x), with x sampled and not differentiated."""
    x, log_q = _draws_and_log_density(dist, n_samples)
    # f(x) weighs each sample's −∂x log q(x) in one vector-Jacobian product.
    (terms,) = torch.autograd.grad(log_q, x, grad_outputs=cost(x.detach()))
    return terms.neg_()


@costs(f_evals_per_sample=1)
def pathwise(cost: Objective, dist: Normal, n_samples: int) -> Tensor:
    """Pathwise (reparameterisation): d f(θ + σε)/dθ through ``rsample``."""
    loc, q = _per_sample_normal(dist, n_samples)
    x = q.rsample()
    (terms,) = torch.autograd.grad(cost(x), loc, grad_outputs=x.new_ones(()).expand_as(x))
    return terms


@costs(f_evals_per_sample=0)
def exact(cost: Objective, dist: Normal, n_samples: int) -> Tensor:
    """The closed-form ∇J repeated n times: the zero-variance reference."""
    grad = cost.grad(dist.loc.detach(), dist.scale)
    if grad is None:
        raise ValueError(f"estimator=exact needs a closed-form gradient; {type(cost).__name__} has none")
    return grad.unsqueeze(-1).expand(*dist.batch_shape, n_samples)


@costs(f_evals_per_sample=1, min_samples=2)
def score_baseline(cost: Objective, dist: Normal, n_samples: int) -> Tensor:
    """Score function, leave-one-out baseline: (f(x_i) − mean_{j≠i} f(x_j)) ∂θ log q(x_i); unbiased."""
    if n_samples < 2:
        raise ValueError(
            f"estimator=score_baseline needs n_samples >= 2 (a leave-one-out baseline); got {n_samples}")
    x, log_q = _draws_and_log_density(dist, n_samples)
    fx = cost(x.detach())
    baseline = (fx.sum(-1, keepdim=True) - fx) / (n_samples - 1)
    (terms,) = torch.autograd.grad(log_q, x, grad_outputs=fx - baseline)
    return terms.neg_()


def _score_baseline_variance_of_mean(terms: Tensor) -> Tensor:
    """Unbiased in-step estimate of Var(mean) for leave-one-out terms, which are correlated.

    Exchangeable terms with variance V and pairwise covariance C: E[sample variance S] = V − C and
    Var(mean) = S/n + C in expectation. For the leave-one-out baseline C = ∇J²/(n−1)², and
    E[mean²] = ∇J² + Var(mean) gives C = E[mean² − S/n] / ((n−1)² + 1).
    """
    n = terms.shape[-1]
    s_over_n = terms.var(-1) / n
    return s_over_n + (terms.mean(-1).square() - s_over_n) / ((n - 1) ** 2 + 1)


score_baseline.variance_of_mean = _score_baseline_variance_of_mean  # type: ignore[attr-defined]

#: 1/(σ√(2π)): the mass of the positive part of ∂θ N(x; θ, σ²), times σ.
_MV_CONSTANT = 1.0 / math.sqrt(2.0 * math.pi)


@costs(f_evals_per_sample=2)
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


def variance_of_mean(estimator: str, terms: Tensor, mean: Tensor | None = None) -> Tensor:
    """In-step estimate of Var(mean of the n terms): sample variance / n, unless the estimator has its own.

    ``mean`` (the terms' mean over the last axis, if the caller has it) saves a pass; the sample
    variance is a norm of the centred terms, several times faster than ``Tensor.var`` on the CPU.
    """
    own = getattr(globals().get(estimator), "variance_of_mean", None)
    if own is not None:
        return own(terms)
    n = terms.shape[-1]
    mean = terms.mean(-1) if mean is None else mean
    return torch.linalg.vector_norm(terms - mean.unsqueeze(-1), dim=-1).square() / (n * (n - 1))


def f_evals_per_step(estimator: Callable, n_samples: int) -> int:
    """Evaluations of f per replicate per step (0 for ``exact``, which uses the closed form)."""
    return getattr(getattr(estimator, "func", estimator), "f_evals_per_sample", 1) * n_samples


def name_of(estimator: Callable) -> str:
    """The estimator's name, also through the functools.partial that Hydra's ``_partial_`` makes."""
    return getattr(estimator, "func", estimator).__name__
