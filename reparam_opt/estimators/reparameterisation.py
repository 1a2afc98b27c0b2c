"""The pathwise (reparameterisation) estimator: ∇ f(μ + σε) through ``rsample``, for μ and s = log σ.

Per-sample terms come from a leaf per sample: a broadcast view of each parameter, one entry per
sample (``sampling.per_sample_leaves``), so autograd returns one gradient per sample without a copy.
"""

from __future__ import annotations

import torch
from torch import Tensor

from reparam_opt.estimators import sampling
from reparam_opt.estimators.spec import Estimator


def gaussian_pathwise(cost, q, n_samples: int) -> Tensor:
    """∇ f(μ + σε) per sample, differentiated by autograd, never a hand-written f'."""
    leaves, normal = sampling.per_sample_leaves(q, n_samples)
    x = normal.rsample()
    f = cost(x)
    grads = torch.autograd.grad(f, leaves, grad_outputs=f.new_ones(()).expand_as(f))
    return grads[0] if len(grads) == 1 else torch.cat(grads, dim=-1)


pathwise = Estimator(
    "pathwise",
    {"gaussian": gaussian_pathwise},
    f_evals_per_sample=1,
    why_not={
        "bernoulli": "b is discrete, so f(b) has no path to θ to differentiate; use concrete or "
        "straight_through for a relaxed gradient, or score or score_baseline for an unbiased one"
    },
)
