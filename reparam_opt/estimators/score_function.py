"""The score function (REINFORCE): f(x) ∇ log q(x), with x sampled and not differentiated; plain,
with a leave-one-out baseline, and with a moving-average baseline.

On the Gaussian family the score estimators differentiate log q with respect to the drawn x for μ
(a location parameter) and with respect to a per-sample view of s for a learned scale
(``sampling.py``). On the Bernoulli family they differentiate ``Bernoulli.log_prob`` through a
per-sample view of the logits, ∂θ log q(b) = b − p. The terms and their variances are derived in
docs/maths.md.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Bernoulli

from reparam_opt.estimators import sampling
from reparam_opt.estimators.spec import Estimator, no_closed_form


def gaussian_score(cost, q, n_samples: int) -> Tensor:
    """f(x) ∇ log q(x) for μ and s = log σ."""
    leaves, log_q = sampling.draws_and_log_density(q, n_samples)
    # f(x) weighs each sample's scores in one vector-Jacobian product.
    return sampling.weighted_scores(leaves, log_q, cost(leaves[0].detach()))


def gaussian_score_baseline(cost, q, n_samples: int) -> Tensor:
    """(f(x_i) − mean_{j≠i} f(x_j)) ∇ log q(x_i); unbiased."""
    if n_samples < 2:
        raise ValueError(
            f"estimator=score_baseline needs n_samples >= 2 (a leave-one-out baseline); got {n_samples}"
        )
    leaves, log_q = sampling.draws_and_log_density(q, n_samples)
    fx = cost(leaves[0].detach())
    baseline = (fx.sum(-1, keepdim=True) - fx) / (n_samples - 1)
    return sampling.weighted_scores(leaves, log_q, fx - baseline)


def bernoulli_scores(q, b: Tensor, weights: Tensor) -> Tensor:
    """weights × ∂θ log q(b) per sample: one vector-Jacobian product through the logits' view."""
    logits = q.per_sample_logits(b.shape[-2])
    log_q = Bernoulli(logits=logits, validate_args=False).log_prob(b)
    (terms,) = torch.autograd.grad(log_q, logits, grad_outputs=weights)
    return terms


def bernoulli_score(cost, q, n_samples: int) -> Tensor:
    """REINFORCE without a baseline, as in the papers: f(b)(b − p)."""
    b = q.sample(n_samples)
    return bernoulli_scores(q, b, cost(b).unsqueeze(-1))


def bernoulli_score_baseline(cost, q, n_samples: int) -> Tensor:
    """Leave-one-out baseline: (f(b_i) − mean_{j≠i} f(b_j))(b_i − p); unbiased, n ≥ 2."""
    b = q.sample(n_samples)
    fb = cost(b).unsqueeze(-1)
    baseline = (fb.sum(-2, keepdim=True) - fb) / (n_samples - 1)
    return bernoulli_scores(q, b, fb - baseline)


def bernoulli_score_ema(cost, q, n_samples: int, decay: float = 0.95, state: dict | None = None) -> Tensor:
    """REINFORCE with a moving-average baseline c: (f(b) − c)(b − p), then c ← decay·c + (1 − decay)·mean f.

    c lives in ``state`` (one per replicate, [replicates, 1, 1], starting at 0) and is updated after
    the step's terms are made, so each step's estimate is unbiased given the past; its mean over
    replicates is logged as ``estimator/baseline``. With a constant c
    the single-sample variance is p(1 − p)[f(1)(1 − p) + f(0)p − c]².
    """
    state = {} if state is None else state
    b = q.sample(n_samples)
    fb = cost(b).unsqueeze(-1)
    baseline = state.get("baseline")
    if baseline is None:
        baseline = torch.zeros_like(fb[..., :1, :])
    terms = bernoulli_scores(q, b, fb - baseline)
    if not state.get("frozen"):
        state["baseline"] = decay * baseline + (1.0 - decay) * fb.mean(-2, keepdim=True)
        state["logged"] = {"estimator/baseline": baseline.mean()}  # the c this step used
    return terms


def leave_one_out(estimator: Estimator, cost, mu: Tensor, sigma: Tensor | float, n: int) -> Tensor | None:
    """n·Var of the leave-one-out estimate, from the score function's variance and moments of f."""
    if n < 2:
        return None
    v_score = score.closed_form(score, cost, mu, sigma, 1)
    return None if v_score is None else cost.leave_one_out_variances(v_score, mu, sigma, n)


def leave_one_out_variance_of_mean(terms: Tensor, mean: Tensor | None = None) -> Tensor:
    """Unbiased in-step estimate of Var(mean) for leave-one-out terms, which are correlated.

    Exchangeable terms with variance V and pairwise covariance C: E[sample variance S] = V − C and
    Var(mean) = S/n + C in expectation. For the leave-one-out baseline C = (∂J)²/(n−1)², and
    E[mean²] = (∂J)² + Var(mean) gives C = E[mean² − S/n] / ((n−1)² + 1).
    """
    n = terms.shape[-2]
    s_over_n = terms.var(-2) / n
    return s_over_n + (terms.mean(-2).square() - s_over_n) / ((n - 1) ** 2 + 1)


score = Estimator(
    "score",
    {"gaussian": gaussian_score, "bernoulli": bernoulli_score},
    f_evals_per_sample=1,
    takes_baseline=True,
)

score_baseline = Estimator(
    "score_baseline",
    {"gaussian": gaussian_score_baseline, "bernoulli": bernoulli_score_baseline},
    f_evals_per_sample=1,
    min_samples=2,
    terms_share_samples=True,
    variance_of_mean=leave_one_out_variance_of_mean,
    closed_form=leave_one_out,
    scale_closed_form=no_closed_form,
)

#: REINFORCE with a moving-average baseline (``estimator.decay``); the Bernoulli family's.
score_ema = Estimator(
    "score_ema",
    {"bernoulli": bernoulli_score_ema},
    f_evals_per_sample=1,
    closed_form=no_closed_form,
    stateful=True,
)
