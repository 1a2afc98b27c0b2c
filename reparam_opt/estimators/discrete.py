"""The estimators' per-sample terms on the Bernoulli family, [replicates, n, 1] like the Gaussian ones.

Each term comes from autograd through a per-sample view of the logits
(``BernoulliQ.per_sample_logits``): the score function differentiates ``Bernoulli.log_prob``
there, ∂θ log q(b) = b − p; the relaxed estimators differentiate f at a relaxed sample drawn from
those logits.

- Unbiased: ``score``, ``score_baseline``, ``score_ema`` (a moving-average baseline, its state
  kept per replicate) and ``exact``; ``rebar`` and ``relax`` (``reparam_opt/estimators/control_variates.py``).
- Biased, with a temperature τ: ``concrete`` (f at the relaxed sample b̃ = σ((θ + logit u)/τ),
  through torch's ``RelaxedBernoulli.rsample``) and ``straight_through`` (f at the hard b in the
  forward pass, b̃'s gradient in the backward pass, through ``F.gumbel_softmax(hard=True)``).

The formulas are in docs/maths.md, "The Bernoulli toy".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Bernoulli, RelaxedBernoulli

from reparam_opt.families.bernoulli import BernoulliQ
from reparam_opt.objectives import Objective


def _scores(q: BernoulliQ, b: Tensor, weights: Tensor) -> Tensor:
    """weights × ∂θ log q(b) per sample: one vector-Jacobian product through the logits' view."""
    logits = q.per_sample_logits(b.shape[-2])
    log_q = Bernoulli(logits=logits, validate_args=False).log_prob(b)
    (terms,) = torch.autograd.grad(log_q, logits, grad_outputs=weights)
    return terms


def score(cost: Objective, q: BernoulliQ, n_samples: int) -> Tensor:
    """REINFORCE without a baseline, as in the papers: f(b)(b − p)."""
    b = q.sample(n_samples)
    return _scores(q, b, cost(b))


def score_baseline(cost: Objective, q: BernoulliQ, n_samples: int) -> Tensor:
    """Leave-one-out baseline: (f(b_i) − mean_{j≠i} f(b_j))(b_i − p); unbiased, n ≥ 2."""
    b = q.sample(n_samples)
    fb = cost(b)
    baseline = (fb.sum(-2, keepdim=True) - fb) / (n_samples - 1)
    return _scores(q, b, fb - baseline)


def score_ema(
    cost: Objective, q: BernoulliQ, n_samples: int, decay: float = 0.95, state: dict | None = None
) -> Tensor:
    """REINFORCE with a moving-average baseline c: (f(b) − c)(b − p), then c ← decay·c + (1 − decay)·mean f.

    c lives in ``state`` (one per replicate, [replicates, 1, 1], starting at 0) and is updated after
    the step's terms are made, so each step's estimate is unbiased given the past; its mean over
    replicates is logged as ``estimator/baseline``. With a constant c
    the single-sample variance is p(1 − p)[f(1)(1 − p) + f(0)p − c]².
    """
    state = {} if state is None else state
    b = q.sample(n_samples)
    fb = cost(b)
    baseline = state.get("baseline")
    if baseline is None:
        baseline = torch.zeros_like(fb[..., :1, :])
    terms = _scores(q, b, fb - baseline)
    if not state.get("frozen"):
        state["baseline"] = decay * baseline + (1.0 - decay) * fb.mean(-2, keepdim=True)
        state["logged"] = {"estimator/baseline": baseline.mean()}  # the c this step used
    return terms


def exact(cost: Objective, q: BernoulliQ, n_samples: int) -> Tensor:
    """dJ/dθ by enumeration, repeated n times."""
    grad = cost.grad(q.logits.detach())
    return grad.unsqueeze(-2).expand(q.sample_shape(n_samples))


def _relaxed_terms(f: Tensor, logits: Tensor) -> Tensor:
    (terms,) = torch.autograd.grad(f, logits, grad_outputs=torch.ones_like(f))
    return terms


def concrete(cost: Objective, q: BernoulliQ, n_samples: int, tau: float = 0.5) -> Tensor:
    """Concrete / Gumbel-softmax: ∂θ f(b̃), b̃ = σ((θ + logit u)/τ); biased, 2(b̃ − t)b̃(1 − b̃)/τ for the toy."""
    logits = q.per_sample_logits(n_samples)
    relaxed = RelaxedBernoulli(
        torch.tensor(float(tau), dtype=logits.dtype, device=logits.device), logits=logits
    )
    return _relaxed_terms(cost(relaxed.rsample()), logits)


def straight_through(cost: Objective, q: BernoulliQ, n_samples: int, tau: float = 0.5) -> Tensor:
    """Straight-through Gumbel: f at the hard b forward, b̃'s gradient backward; biased.

    ``F.gumbel_softmax(hard=True)`` over the two classes (logits θ and 0: their Gumbel difference
    is the logistic noise of the binary Concrete) returns the one-hot b with b̃'s gradient.
    """
    logits = q.per_sample_logits(n_samples)
    two_classes = torch.cat([logits, torch.zeros_like(logits)], dim=-1)
    b = F.gumbel_softmax(two_classes, tau=float(tau), hard=True)[..., :1]
    return _relaxed_terms(cost(b), logits)
