"""Monte Carlo estimators of ∇θ E_{x~N(θ,σ²)}[f(x)].

Each estimator is one function with the same signature, after DeepMind's mc_gradients:
``estimator(cost, dist, n_samples) -> Tensor[replicates, n_samples]``, the per-sample gradient
terms for every replicate. Their mean over the last axis is the estimate; their sample
variance over that axis, divided by n, is the in-step variance of the estimate.

The sampling estimators differentiate with torch autograd, never a hand-written f', so a new
cost is one function. Per-sample terms come from giving every sample its own leaf copy of θ.
"""

from __future__ import annotations

from typing import Callable, Protocol

import torch
from torch import Tensor
from torch.distributions import Normal

from reparam_opt.objectives import Objective


class Estimator(Protocol):
    def __call__(self, cost: Objective, dist: Normal, n_samples: int) -> Tensor: ...


def _per_sample_normal(dist: Normal, n_samples: int) -> tuple[Tensor, Normal]:
    """A Normal of shape [replicates, n_samples] whose loc is a fresh leaf, one per sample."""
    shape = (*dist.batch_shape, n_samples)
    loc = dist.loc.detach().unsqueeze(-1).expand(shape).clone().requires_grad_(True)
    return loc, Normal(loc, dist.scale.detach().unsqueeze(-1).expand(shape))


def score(cost: Objective, dist: Normal, n_samples: int) -> Tensor:
    """Score function (REINFORCE): f(x) ∂θ log q(x), with x sampled and not differentiated."""
    loc, q = _per_sample_normal(dist, n_samples)
    x = q.sample()
    surrogate = cost(x).detach() * q.log_prob(x)
    (terms,) = torch.autograd.grad(surrogate.sum(), loc)
    return terms


def pathwise(cost: Objective, dist: Normal, n_samples: int) -> Tensor:
    """Pathwise (reparameterisation): d f(θ + σε)/dθ through ``rsample``."""
    loc, q = _per_sample_normal(dist, n_samples)
    (terms,) = torch.autograd.grad(cost(q.rsample()).sum(), loc)
    return terms


def exact(cost: Objective, dist: Normal, n_samples: int) -> Tensor:
    """The closed-form ∇J repeated n times: the zero-variance reference."""
    grad = cost.grad(dist.loc.detach(), dist.scale)
    if grad is None:
        raise ValueError(f"estimator=exact needs a closed-form gradient; {type(cost).__name__} has none")
    return grad.unsqueeze(-1).expand(*dist.batch_shape, n_samples)


def name_of(estimator: Callable) -> str:
    """The estimator's name, also through the functools.partial that Hydra's ``_partial_`` makes."""
    return getattr(estimator, "func", estimator).__name__
