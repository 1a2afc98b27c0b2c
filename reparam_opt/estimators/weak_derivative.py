"""The measure-valued estimator: coupled weak derivatives of the Gaussian, a coordinate at a time.

f is evaluated, never differentiated, so it needs no gradient of f at all; its cost is two
evaluations of f per sample and per coordinate (and again per coordinate of a learned scale).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Uniform, Weibull

from reparam_opt.estimators import sampling
from reparam_opt.estimators.spec import Estimator

#: 1/(σ√(2π)): the mass of the positive part of ∂μ N(x; μ, σ²), times σ.
_MV_CONSTANT = 1.0 / math.sqrt(2.0 * math.pi)


def gaussian_measure_valued(cost, q, n_samples: int) -> Tensor:
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
    with torch.no_grad():
        w, base = rayleigh_and_base(q, rayleigh, shape)
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


def rayleigh_and_base(q, rayleigh: Weibull, shape: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """The Rayleigh draws w and the other coordinates' draw of q (μ itself in one dimension).

    Independent draws take torch's samplers, as they always have; other draws (antithetic,
    Sobol') make both from one set of uniforms through their inverse CDFs, so that one Sobol'
    point covers a sample's w and its base at once.
    """
    mu = q.loc.detach().unsqueeze(-2)
    if q.draws.independent:
        w = rayleigh.sample(shape)
        return w, mu.expand(shape) if q.dim == 1 else q.normal().expand(shape).sample()
    if q.dim == 1:
        (w,) = q.draws.joint([rayleigh.expand(shape)], shape)
        return w, mu.expand(shape)
    return tuple(q.draws.joint([rayleigh.expand(shape), q.normal()], shape))


measure_valued = Estimator(
    "measure_valued",
    {"gaussian": gaussian_measure_valued},
    f_evals_per_sample=2,
    per_coordinate=True,
    draws_once=False,  # its Weibull draws, then q's for the other coordinates and the scale's
    why_not={
        "bernoulli": "its weak derivative is the Gaussian's; on a Bernoulli the exact gradient is one "
        "difference f(1) − f(0), which estimator=exact computes"
    },
)
