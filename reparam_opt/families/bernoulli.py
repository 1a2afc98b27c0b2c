"""The Bernoulli family: b ~ Bernoulli(p), p = σ(θ), θ the logit; the toy of REBAR and RELAX.

Each replicate's parameter row is its logit θ, [replicates, 1], so the loop, the optimizer, the
divergence mask and the history are the Gaussian family's. Minimising J(θ) = E[(b − t)²] over
θ has no minimiser for t ≠ ½ (θ → −∞ for t < ½, where J → t²), so the errors measured against
θ* are not reported; the exact loss J(θ_t) is (``objective/mean``, and summary.json's
``final_objective``). Every closed form is by enumeration over b ∈ {0, 1} (docs/maths.md,
"The Bernoulli toy").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Bernoulli


@dataclass(frozen=True)
class BernoulliQ:
    """One step's q for every replicate: Bernoulli(σ(θ)) with the logits ``logits`` [replicates, 1]."""

    logits: Tensor

    def sample_shape(self, n_samples: int) -> tuple[int, ...]:
        return (*self.logits.shape[:-1], n_samples, 1)

    def rows(self, start: int, stop: int) -> BernoulliQ:
        """q for the replicates [start, stop): a chunk of a step (``reparam_opt/training/chunks.py``)."""
        return BernoulliQ(self.logits[start:stop])

    def per_sample_logits(self, n_samples: int) -> Tensor:
        """A leaf that is a broadcast view of the logits, one entry per sample: [replicates, n, 1]."""
        return self.logits.detach().unsqueeze(-2).expand(self.sample_shape(n_samples)).requires_grad_(True)

    def sample(self, n_samples: int) -> Tensor:
        """n draws of b per replicate, [replicates, n, 1]."""
        logits = self.logits.detach().unsqueeze(-2).expand(self.sample_shape(n_samples))
        return Bernoulli(logits=logits, validate_args=False).sample()


@dataclass(frozen=True)
class BernoulliFamily:
    """``family=bernoulli``: one logit per replicate."""

    name = "bernoulli"
    dim = 1
    scale = "fixed"
    learned = False
    entropy_weight = 0.0
    params = 1

    def initial(self, replicates: int, theta0: float, device: torch.device) -> Tensor:
        return torch.full((replicates, 1), float(theta0), device=device, requires_grad=True)

    def loc(self, theta: Tensor) -> Tensor:
        return theta

    def q(self, theta: Tensor, fixed_scale: Tensor | None = None) -> BernoulliQ:
        return BernoulliQ(theta)

    def entropy_grad(self, theta: Tensor) -> None:
        return None

    def sigma_star(self, curvature_free: bool) -> None:
        return None

    @staticmethod
    def closed_form_variance(estimator: str, objective: Target, theta: Tensor, n: int) -> Tensor | None:
        """n × Var(the n-sample estimate) in closed form, per replicate, or None without one."""
        if estimator == "score":
            return objective.per_sample_variances(theta)["score"]()[..., 0]
        if estimator == "score_baseline" and n >= 2:
            return objective.leave_one_out_variance(theta, n)[..., 0]
        if estimator == "exact":
            return torch.zeros_like(theta[..., 0])
        return None
