"""``exact``: the closed-form gradient repeated n times, the zero-variance reference."""

from __future__ import annotations

import torch
from torch import Tensor

from reparam_opt.estimators.spec import Estimator, no_scale_variance, no_variance


def gaussian_exact(cost, q, n_samples: int) -> Tensor:
    """∇_μ J (and ∂J/∂s for a learned scale) from the cost's closed forms, n times per replicate."""
    grad = cost.gradient(q.loc.detach(), q.scale)
    scale_grad = cost.scale_gradient(q.loc.detach(), q.scale.detach(), q.learned)
    if grad is None or (q.learned != "fixed" and scale_grad is None):
        raise ValueError(f"estimator=exact needs a closed-form gradient; {type(cost).__name__} has none")
    grad = grad if scale_grad is None else torch.cat([grad, scale_grad], dim=-1)
    return grad.unsqueeze(-2).expand(*grad.shape[:-1], n_samples, grad.shape[-1])


def bernoulli_exact(cost, q, n_samples: int) -> Tensor:
    """dJ/dθ by enumeration, repeated n times."""
    grad = cost.grad(q.logits.detach())
    return grad.unsqueeze(-2).expand(q.sample_shape(n_samples))


exact = Estimator(
    "exact",
    {"gaussian": gaussian_exact, "bernoulli": bernoulli_exact},
    f_evals_per_sample=0,
    closed_form=no_variance,
    scale_closed_form=no_scale_variance,
)
