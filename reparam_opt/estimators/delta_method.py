"""The delta-method control variate (``control_variate=delta``): f's second-order Taylor expansion
around μ, whose expectation under q is known, estimated with the same estimator and the same draws.

With f̃(x) = f(μ) + g·(x − μ) + ½(x − μ)ᵀH(x − μ), g and H f's gradient and Hessian at μ by
autograd, E_q f̃ = f(μ) + ½ Σ_i σ_i² H_ii, so ∇_μ E_q f̃ = g and ∂E_q f̃/∂s_i = σ_i² H_ii. Any
unbiased estimator applied to f̃ with the draws it made for f gives terms c whose mean is known;
t − β(c − E c) keeps the estimate unbiased for any β independent of the sample and, with the best
β = Cov(t, c)/Var c per parameter, removes the share of the variance that f̃ explains. As in
google-deepmind/mc_gradients' ``control_variates.py`` (Mohamed et al. 2020, §7), β is estimated
per step and per parameter:

- ``coefficient_samples`` k > 0: from k extra independent draws (terms of f and f̃ both), the
  paper's choice with k = 25; independent of the step's sample, so the estimate is unbiased and
  its terms are independent given β;
- k = 0: from the step's own terms, leaving out each independent unit (a sample, an antithetic
  pair, a scramble; ``families/draws.py``) in turn, so each unit's β is independent of it and the
  estimate stays unbiased. The units' corrected terms then share the other units' data, so their
  sample variance is an estimate of the in-step variance good to O(1/m) in m units, not exact.
  A leave-one-out baseline's terms each hold the other samples' f, so ``score_baseline`` is
  refused here and takes k > 0.

Where f is a polynomial of degree two (the squares, the correlated quadratic, Bayesian linear
regression) f̃ = f: t and c are the same numbers to rounding, β = 1 and the variance is zero.
Where the units' c are equal to rounding (pathwise's g + Hσε over an antithetic pair), β is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from reparam_opt.families.draws import IID


def taylor(cost: Any, q: Any) -> tuple[Any, Tensor]:
    """f̃, the cost's second-order expansion around each replicate's μ, and ∇_θ E_q f̃ [R, P].

    g and H come from autograd through f at μ (H one row per coordinate); f is never differentiated
    by hand. A cost whose gradient does not depend on x has H = 0.
    """
    mu = q.loc.detach().clone().requires_grad_(True)
    dim = mu.shape[-1]
    with torch.enable_grad():
        value = cost(mu.unsqueeze(-2)).squeeze(-1)  # [R]
        (grad,) = torch.autograd.grad(value.sum(), mu, create_graph=True)
        if grad.requires_grad:
            rows = [
                torch.autograd.grad(grad[:, i].sum(), mu, retain_graph=i + 1 < dim, allow_unused=True)[0]
                for i in range(dim)
            ]
            hessian = torch.stack([torch.zeros_like(mu) if r is None else r for r in rows], dim=-2)
        else:
            hessian = mu.new_zeros(*mu.shape, dim)
    mu, value, grad, hessian = mu.detach(), value.detach(), grad.detach(), hessian.detach()

    def expansion(x: Tensor) -> Tensor:
        shape = (mu.shape[0], *([1] * (x.dim() - 2)), dim)
        d = x - mu.view(shape)
        linear = torch.einsum("r...i,ri->r...", d, grad)
        quadratic = torch.einsum("r...i,rij,r...j->r...", d, hessian, d)
        return value.view(shape[:-1]) + linear + 0.5 * quadratic

    curvature = torch.diagonal(hessian, dim1=-2, dim2=-1)  # H_ii, [R, D]
    expected = [grad]
    if q.learned != "fixed":
        per_coordinate = q.scale.detach().square() * curvature
        expected.append(per_coordinate.sum(-1, keepdim=True) if q.learned == "shared" else per_coordinate)
    return expansion, torch.cat(expected, dim=-1)


#: The second-order expansion and its expected gradient, by the family whose q it is taken under.
EXPANSIONS = {"gaussian": taylor}


def same_draws(terms_fn: Any, costs: tuple[Any, Any], q: Any, n_samples: int) -> tuple[Tensor, Tensor]:
    """The terms of two costs from the same draws: the second's made on a fork of torch's random
    state, so the first replays its draws and leaves the stream where one call would."""
    device = q.loc.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        second = terms_fn(costs[1], q, n_samples)
    return terms_fn(costs[0], q, n_samples), second


def rounding(raw: Tensor, m: int) -> Tensor:
    """A sum of m squared deviations that rounding alone could make in units averaged from the
    per-sample control terms ``raw`` [R, n, P]: below it the units' c is constant to its precision
    (pathwise's control terms g + Hσε average to exactly E c over an antithetic pair), and a β
    from it would be noise over noise. [R, 1, P], float64."""
    eps = torch.finfo(raw.dtype).eps
    return m * (16.0 * eps * raw.abs().amax(-2, keepdim=True)).double().square()


def ratio(covariance: Tensor, variance: Tensor, floor: Tensor) -> Tensor:
    """Cov/Var where Var is above the rounding ``floor``; 0 (no control) where it is not."""
    tiny = torch.finfo(variance.dtype).tiny
    return torch.where(variance > floor, covariance / variance.clamp_min(tiny), 0.0)


def coefficient(t: Tensor, c: Tensor, scale: Tensor) -> Tensor:
    """β = Cov(t, c)/Var(c) per replicate and parameter from samples [R, k, P]; 0 where c is constant
    to rounding (``scale``: the per-sample, uncentred control terms). Made in float64, returned in
    t's dtype."""
    dtype, floor = t.dtype, rounding(scale, t.shape[-2])[..., 0, :]
    t, c = t.double(), c.double()
    t, c = t - t.mean(-2, keepdim=True), c - c.mean(-2, keepdim=True)
    return ratio((t * c).sum(-2), c.square().sum(-2), floor).to(dtype)


def leave_one_out(t: Tensor, c: Tensor, scale: Tensor) -> Tensor:
    """β for each unit [R, m, P] from the other m − 1 units' t and c; 0 where their c is constant to
    rounding (``scale``: the per-sample, uncentred control terms).

    Each unit's sums are the whole step's less its own, made in float64 on centred values: the
    score function's heavy tails put most of a sum in one unit, and float32 would lose the rest.
    """
    m, dtype = t.shape[-2], t.dtype
    floor = rounding(scale, m)
    t, c = t.double(), c.double()
    t, c = t - t.mean(-2, keepdim=True), c - c.mean(-2, keepdim=True)
    others = m - 1
    sum_t, sum_c = t.sum(-2, keepdim=True) - t, c.sum(-2, keepdim=True) - c
    covariance = (t * c).sum(-2, keepdim=True) - t * c - sum_t * sum_c / others
    variance = c.square().sum(-2, keepdim=True) - c.square() - sum_c.square() / others
    return ratio(covariance, variance, floor).to(dtype)


@dataclass(frozen=True)
class Delta:
    """``control_variate=delta``: the second-order Taylor expansion, its β estimated per step."""

    #: Extra independent draws for β per step; 0: leave-one-out from the step's own units.
    coefficient_samples: int = 0

    name: ClassVar[str] = "delta"
    stateful: ClassVar[bool] = False
    #: The estimator's own in-step variance rule no longer applies to the corrected terms.
    keeps_in_step: ClassVar[bool] = False

    @property
    def extra_samples(self) -> int:
        return self.coefficient_samples

    extra_f_evals: ClassVar[int] = 1  # f at μ, differentiated twice by autograd
    terms_held: ClassVar[int] = 2  # f's terms and f̃'s
    #: Calls at a fixed q the variance study makes before it measures: none without state.
    warmup: ClassVar[int] = 0

    def check(self, estimator: Any, family: str, draws: Any, n_samples: int) -> None:
        if family not in EXPANSIONS:
            raise ValueError(
                f"bad value control_variate=delta: it applies to family=gaussian only (a Taylor "
                f"expansion needs x real); family={family}"
            )
        if estimator.f_evals_per_sample == 0 or estimator.includes_entropy:
            raise ValueError(
                f"bad value control_variate=delta: estimator={estimator.name} is not a Monte Carlo "
                "estimate of ∇E_q f; use score, score_baseline, pathwise or measure_valued"
            )
        if self.coefficient_samples == 1 or self.coefficient_samples < 0:
            raise ValueError(
                f"bad value control_variate.coefficient_samples={self.coefficient_samples}: must be 0 "
                "(leave-one-out) or an integer >= 2"
            )
        if self.coefficient_samples == 0 and estimator.terms_share_samples:
            raise ValueError(
                f"bad value control_variate.coefficient_samples=0: estimator={estimator.name}'s terms "
                "each use the other samples, so a coefficient left-one-out from them still depends on "
                "the sample and biases the estimate; set control_variate.coefficient_samples=25"
            )
        if self.coefficient_samples == 0 and draws.unit_count(n_samples) < 3:
            raise ValueError(
                f"bad value n_samples={n_samples}: control_variate=delta with coefficient_samples=0 "
                f"estimates β leaving one unit out, so it needs 3 or more independent units "
                f"(draws={draws.name} gives {draws.unit_count(n_samples)}); raise n_samples or set "
                "control_variate.coefficient_samples=25"
            )

    def wrap(self, terms_fn: Any, estimator: Any) -> Any:
        """The estimator's terms with the control variate subtracted, per sample: [R, n, P]."""

        def controlled(
            cost: Any, q: Any, n_samples: int, state: dict | None = None, **options: Any
        ) -> Tensor:
            if estimator.stateful:
                options["state"] = state
            inner = lambda f, at, n: terms_fn(f, at, n, **options)  # noqa: E731
            expansion, expected = EXPANSIONS[q.family](cost, q)
            t, raw = same_draws(inner, (cost, expansion), q, n_samples)
            c = raw - expected.unsqueeze(-2)
            if self.coefficient_samples:
                extra_t, extra_c = same_draws(
                    inner, (cost, expansion), q.with_draws(IID()), self.coefficient_samples
                )
                beta = coefficient(extra_t, extra_c - expected.unsqueeze(-2), extra_c)
                return t - beta.unsqueeze(-2) * c
            draws = q.draws
            beta = leave_one_out(draws.units(t), draws.units(c), raw)
            return t - draws.per_sample(beta, n_samples) * c

        return controlled

    def closed_form(
        self, estimator: Any, draws: Any, cost: Any, mu: Tensor, sigma: Any, n: int
    ) -> Tensor | None:
        """Zero where f̃ = f (a polynomial of degree two); none elsewhere (β is estimated)."""
        return torch.zeros_like(mu) if cost.second_order() else None

    def scale_closed_form(
        self, estimator: Any, draws: Any, cost: Any, mu: Tensor, sigma: Any, learned: str
    ) -> Tensor | None:
        if learned == "fixed" or not cost.second_order():
            return None
        return torch.zeros_like(mu[..., 0])
