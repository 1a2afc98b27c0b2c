"""How the estimators draw and differentiate: per-sample autograd leaves, draws with their
log-density, and f evaluated one coordinate at a time.

A per-sample term needs a gradient per sample. Pathwise gets it from a leaf that is a broadcast
view of each parameter, one entry per sample (no copy: autograd still returns the leaf's full
shape). The score estimators differentiate log q with respect to the drawn x itself, since
∂μ log q = −∂x log q for a location parameter, and with respect to a per-sample view of s for a
learned scale. The measure-valued estimator moves one coordinate of a sample and keeps the others.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Chi2, Normal


def per_sample_leaves(q, n_samples: int) -> tuple[list[Tensor], Normal]:
    """Per-sample autograd leaves for μ (and s, when learned) and the Normal over them, [R, n, D].

    Each leaf is a broadcast view of a parameter (no copy); autograd still gives it a gradient
    of its full shape, one entry per sample, which is what makes the terms per-sample.
    """
    shape = q.sample_shape(n_samples)
    loc = q.loc.detach().unsqueeze(-2).expand(shape).requires_grad_(True)
    if q.learned == "fixed":
        # The parameters are valid by construction; argument validation would cost a pass over them.
        return [loc], Normal(loc, q.sample_scale.expand(shape), validate_args=False)
    log_scale = q.scale.detach().log().unsqueeze(-2)
    log_scale = log_scale.expand(*shape[:-1], log_scale.shape[-1]).requires_grad_(True)
    return [loc, log_scale], Normal(loc, log_scale.exp(), validate_args=False)


def draws_and_log_density(q, n_samples: int) -> tuple[list[Tensor], Tensor]:
    """n draws per replicate, as the autograd leaf, and log q(x) for each: the score estimators' inputs.

    μ is the location of q, so ∂μ log q(x) = −∂x log q(x): differentiating with respect to the
    drawn x gives every sample's μ-score without a per-sample copy of μ, and keeps σ (and log σ
    inside ``log_prob``) at one value per replicate instead of one per sample. A learned scale
    gets a per-sample view of s as a second leaf, whose gradient is ∂s log q = ε² − 1.
    """
    normal = q.normal()
    with torch.no_grad():  # x is drawn, not differentiated; μ + σε is sample()'s law at half its cost
        x = q.draws.rsample(normal, q.sample_shape(n_samples))
    x.requires_grad_(True)
    if q.learned == "fixed":
        return [x], normal.log_prob(x)
    log_scale = q.sample_scale.log()
    log_scale = log_scale.expand(*x.shape[:-1], q.scale_params).requires_grad_(True)
    return [x, log_scale], Normal(normal.loc, log_scale.exp(), validate_args=False).log_prob(x)


def weighted_scores(leaves: list[Tensor], log_q: Tensor, weights: Tensor) -> Tensor:
    """Σ-weighted scores: per sample, weights × (∂μ log q, ∂s log q), as [R, n, P] terms."""
    grads = torch.autograd.grad(log_q, leaves, grad_outputs=weights.unsqueeze(-1).expand_as(log_q))
    terms = grads[0].neg_()  # ∂μ log q = −∂x log q
    return terms if len(grads) == 1 else torch.cat([terms, grads[1]], dim=-1)


def one_coordinate_at_a_time(cost, base: Tensor, moved: Tensor) -> Tensor:
    """f at ``base`` [R, n, D] with coordinate i replaced by ``moved[..., i]``, for each i: [R, n, D].

    In D = 1 nothing is left of the base, so f is simply evaluated at the moved points.
    """
    if base.shape[-1] == 1:
        return cost(moved).unsqueeze(-1)
    eye = torch.eye(base.shape[-1], dtype=torch.bool, device=base.device)
    return cost(torch.where(eye, moved.unsqueeze(-2), base.unsqueeze(-2)))


def double_sided_maxwell(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Draws of the standard double-sided Maxwell law, density x²φ(x): a random sign times a Chi(3)."""
    options = dict(dtype=like.dtype, device=like.device)
    radius = Chi2(torch.tensor(3.0, **options)).sample(shape).sqrt_()
    return radius * (2.0 * Bernoulli(torch.tensor(0.5, **options)).sample(shape) - 1.0)
