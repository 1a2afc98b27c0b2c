"""The relaxed estimators of the Bernoulli family, biased, with a temperature τ (``estimator.tau``).

- ``concrete``: f at the relaxed sample b̃ = σ((θ + logit u)/τ), through torch's
  ``RelaxedBernoulli.rsample``;
- ``straight_through``: f at the hard b in the forward pass, b̃'s gradient in the backward pass,
  through ``F.gumbel_softmax(hard=True)``.

Each term comes from autograd through a per-sample view of the logits
(``BernoulliQ.per_sample_logits``). The formulas are in docs/maths.md, "The Bernoulli toy".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import RelaxedBernoulli

from reparam_opt.estimators.spec import Estimator, no_closed_form


def _relaxed_terms(f: Tensor, logits: Tensor) -> Tensor:
    (terms,) = torch.autograd.grad(f, logits, grad_outputs=torch.ones_like(f))
    return terms


def bernoulli_concrete(cost, q, n_samples: int, tau: float = 0.5) -> Tensor:
    """Concrete / Gumbel-softmax: ∂θ f(b̃), b̃ = σ((θ + logit u)/τ); biased, 2(b̃ − t)b̃(1 − b̃)/τ for the toy."""
    logits = q.per_sample_logits(n_samples)
    relaxed = RelaxedBernoulli(
        torch.tensor(float(tau), dtype=logits.dtype, device=logits.device), logits=logits
    )
    return _relaxed_terms(cost(relaxed.rsample()), logits)


def bernoulli_straight_through(cost, q, n_samples: int, tau: float = 0.5) -> Tensor:
    """Straight-through Gumbel: f at the hard b forward, b̃'s gradient backward; biased.

    ``F.gumbel_softmax(hard=True)`` over the two classes (logits θ and 0: their Gumbel difference
    is the logistic noise of the binary Concrete) returns the one-hot b with b̃'s gradient.
    """
    logits = q.per_sample_logits(n_samples)
    two_classes = torch.cat([logits, torch.zeros_like(logits)], dim=-1)
    b = F.gumbel_softmax(two_classes, tau=float(tau), hard=True)[..., :1]
    return _relaxed_terms(cost(b), logits)


concrete = Estimator(
    "concrete", {"bernoulli": bernoulli_concrete}, f_evals_per_sample=1, closed_form=no_closed_form
)
straight_through = Estimator(
    "straight_through",
    {"bernoulli": bernoulli_straight_through},
    f_evals_per_sample=1,
    closed_form=no_closed_form,
)
