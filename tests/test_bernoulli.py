"""The Bernoulli family against REFERENCE.md's closed forms ("Bernoulli toy"), 4 standard errors.

Where a variance's standard error needs the fourth moment, it comes from exact enumeration (the
score function's and the leave-one-out estimates take finitely many values) or, for the relaxed
estimators, from the sample itself (said where it is).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from reparam_opt.estimators import ESTIMATORS, control_variates, score_function
from reparam_opt.families.bernoulli import BernoulliFamily
from reparam_opt.objectives import Target
from tests.bernoulli_cases import (
    DTYPE,
    Z,
    enumerated,
    estimates,
    half_unit,
    leave_one_out,
    logits,
    reinforce,
    variance_se,
)


@pytest.mark.parametrize("t", [0.45, 0.499, 0.7])
@pytest.mark.parametrize("theta", [-1.0, 0.0, 1.5])
def test_j_and_its_gradient_are_the_enumeration(t: float, theta: float) -> None:
    p = 1 / (1 + math.exp(-theta))
    target, at = Target(t), torch.tensor([theta], dtype=DTYPE)
    assert float(target.value(at)) == pytest.approx((1 - p) * t**2 + p * (1 - t) ** 2, rel=1e-14)
    mean, _, _ = enumerated(theta, t, 1, reinforce(t))  # E[f(b)(b − p)] = dJ/dθ
    assert float(target.grad(at)) == pytest.approx(mean, rel=1e-12)


def test_reference_values_at_theta_zero() -> None:
    at = torch.zeros(1, dtype=DTYPE)
    assert (float(Target(0.45).value(at)), float(Target(0.45).grad(at))) == pytest.approx((0.2525, 0.025))
    assert (float(Target(0.499).value(at)), float(Target(0.499).grad(at))) == pytest.approx(
        (0.250001, 0.0005)
    )
    score = lambda t, theta: float(Target(t).per_sample_variances(torch.tensor([theta]))["score"]())  # noqa: E731
    assert score(0.45, 0.0) == pytest.approx(0.0159391, rel=1e-5)
    assert score(0.499, 0.0) == pytest.approx(0.0156251, rel=1e-5)
    assert score(0.45, 1.0) == pytest.approx(0.010346, rel=1e-4)


@pytest.mark.parametrize("theta", [0.0, 1.0])
def test_reinforce_mean_and_variance(theta: float) -> None:
    t, replicates = 0.45, 400_000
    x = estimates("score", theta, t, replicates)
    mean, var, m4 = enumerated(theta, t, 1, reinforce(t))
    closed = float(Target(t).per_sample_variances(torch.tensor([theta], dtype=DTYPE))["score"]())
    assert closed == pytest.approx(var, rel=1e-12)
    assert abs(float(x.mean()) - mean) < Z * math.sqrt(var / replicates)
    assert abs(float(x.var()) - var) < Z * variance_se(var, m4, replicates)


@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("theta", [0.0, 1.0])
def test_leave_one_out_variance(n: int, theta: float) -> None:
    t, replicates = 0.45, 200_000
    mean, var, m4 = enumerated(theta, t, n, leave_one_out(t))
    closed = (
        float(
            BernoulliFamily.closed_form_variance(
                "score_baseline", Target(t), torch.tensor([[theta]], dtype=DTYPE), n
            )
        )
        / n
    )
    assert closed == pytest.approx(var, rel=1e-9)
    x = estimates("score_baseline", theta, t, replicates, n)
    assert abs(float(x.mean()) - mean) < Z * math.sqrt(var / replicates)
    assert abs(float(x.var()) - var) < Z * variance_se(var, m4, replicates)


def test_leave_one_out_reference_values() -> None:
    variance = lambda theta, n: float(  # noqa: E731
        BernoulliFamily.closed_form_variance(
            "score_baseline", Target(0.45), torch.tensor([[theta]], dtype=DTYPE), n
        )
        / n
    )
    assert [variance(0.0, n) for n in (2, 4, 8)] == pytest.approx([6.25e-4, 1.042e-4, 2.232e-5], rel=1e-3)
    assert [variance(1.0, n) for n in (2, 4, 8)] == pytest.approx([5.965e-4, 1.694e-4, 6.629e-5], rel=1e-3)


@pytest.mark.parametrize(("tau", "m", "factor"), [(0.5, 0.5 - math.pi / 8, "0.858"), (1.0, 1 / 6, "0.667")])
def test_concrete_mean_at_theta_zero_is_the_bias_factor(tau: float, m: float, factor: str) -> None:
    """E = (1 − 2t)m(τ)/τ: the exact gradient times 4m(τ)/τ (REFERENCE: 4 − π = 0.858 at τ = ½,
    2/3 at τ = 1). The standard error is the sample's own (the relaxed terms have no closed-form
    fourth moment). The closed form m(τ) is checked twice more, independently of the samples: as
    the quadrature's E[b̃(1 − b̃)] over the logistic noise (bernoulli_table, accurate to 1e−11), and
    4m(τ)/τ against REFERENCE's printed factor to its last digit."""
    from reparam_opt.bernoulli_table import expected_relaxed

    t, replicates = 0.45, 400_000
    x = estimates("concrete", 0.0, t, replicates, tau=tau)
    expected = (1 - 2 * t) * m / tau
    assert abs(float(x.mean()) - expected) < Z * float(x.std()) / math.sqrt(replicates)
    exact = float(Target(t).grad(torch.zeros(1, dtype=DTYPE)))
    assert expected_relaxed("concrete", 0.0, t, tau)[0] / exact == pytest.approx(4 * m / tau, rel=1e-9)
    assert 4 * m / tau == pytest.approx(float(factor), abs=half_unit(factor))


def test_concrete_variance_at_tau_one() -> None:
    """(28t² − 28t + 13)/1260 at θ = 0; the SE from the sample's fourth central moment."""
    t, replicates = 0.45, 400_000
    x = estimates("concrete", 0.0, t, replicates, tau=1.0)
    expected = (28 * t**2 - 28 * t + 13) / 1260
    centred = x - x.mean()
    m4 = float(centred.pow(4).mean())
    assert abs(float(x.var()) - expected) < Z * math.sqrt((m4 - float(x.var()) ** 2) / replicates)


@pytest.mark.parametrize("tau", [0.5, 1.0])
def test_straight_through_mean_at_theta_zero_is_concretes(tau: float) -> None:
    t, replicates = 0.45, 400_000
    st = estimates("straight_through", 0.0, t, replicates, seed=1, tau=tau)
    concrete = estimates("concrete", 0.0, t, replicates, seed=2, tau=tau)
    se = math.sqrt(float(st.var()) / replicates + float(concrete.var()) / replicates)
    assert abs(float(st.mean()) - float(concrete.mean())) < Z * se


def test_straight_through_variance_at_tau_one() -> None:
    """(4t² − 4t + 7)/180 at θ = 0; the SE from the sample's fourth central moment."""
    t, replicates = 0.45, 400_000
    x = estimates("straight_through", 0.0, t, replicates, tau=1.0)
    expected = (4 * t**2 - 4 * t + 7) / 180
    m4 = float((x - x.mean()).pow(4).mean())
    assert abs(float(x.var()) - expected) < Z * math.sqrt((m4 - float(x.var()) ** 2) / replicates)


def test_exact_is_the_gradient_with_no_variance() -> None:
    x = estimates("exact", -1.0, 0.45, 5, n=3)
    assert torch.equal(
        x, torch.full((5,), float(Target(0.45).grad(torch.tensor(-1.0, dtype=DTYPE))), dtype=DTYPE)
    )


@pytest.mark.parametrize("c", [0.0, 0.1, 0.25])
def test_moving_average_baseline_is_unbiased_with_the_constant_baseline_variance(c: float) -> None:
    """Given its baseline c, (f(b) − c)(b − p) has mean dJ/dθ and variance p(1 − p)[f₁(1 − p) + f₀p − c]²
    (REFERENCE); the baseline then moves to decay·c + (1 − decay)·mean f."""
    t, theta, replicates, decay = 0.45, 0.5, 400_000, 0.9
    p = 1 / (1 + math.exp(-theta))
    state = {"baseline": torch.full((replicates, 1, 1), c, dtype=DTYPE)}
    torch.manual_seed(3)
    terms = score_function.bernoulli_score_ema(
        Target(t), logits(theta, replicates), 1, decay=decay, state=state
    )
    terms = terms[:, 0, 0]
    mean, var, m4 = enumerated(theta, t, 1, lambda bs, p: ((bs[0] - t) ** 2 - c) * (bs[0] - p))
    assert var == pytest.approx(p * (1 - p) * ((1 - t) ** 2 * (1 - p) + t**2 * p - c) ** 2, rel=1e-12)
    assert mean == pytest.approx(float(Target(t).grad(torch.tensor(theta, dtype=DTYPE))), rel=1e-12)
    assert abs(float(terms.mean()) - mean) < Z * math.sqrt(var / replicates)
    assert abs(float(terms.var()) - var) < Z * variance_se(var, m4, replicates)
    moved = state["baseline"][:, 0, 0]
    after = {decay * c + (1 - decay) * t**2, decay * c + (1 - decay) * (1 - t) ** 2}
    assert set(torch.unique(moved).tolist()) <= after


@pytest.mark.parametrize(
    ("theta", "eta", "tau"), [(0.0, 1.0, 0.5), (-1.0, 1.0, 0.5), (0.7, 0.3, 1.0), (0.0, 2.0, 0.1)]
)
def test_rebar_is_unbiased(theta: float, eta: float, tau: float) -> None:
    """For every η and τ; z̃ carries θ through p, without which it would not be (duvenaud/relax #6).
    The standard error is the sample's own."""
    replicates = 400_000
    x = estimates("rebar", theta, 0.45, replicates, tau=tau, eta=eta)
    exact = float(Target(0.45).grad(torch.tensor(theta, dtype=DTYPE)))
    assert abs(float(x.mean()) - exact) < Z * float(x.std()) / math.sqrt(replicates)


@pytest.mark.parametrize(("tau", "expected"), [(0.5, 0.0226531), (1.0, 0.0184891)])
def test_rebar_variance_at_eta_one_is_above_reinforces(tau: float, expected: float) -> None:
    """REFERENCE: at θ = 0, t = 0.45, η = 1 REBAR's variance exceeds plain REINFORCE's 0.0159391."""
    replicates = 400_000
    x = estimates("rebar", 0.0, 0.45, replicates, tau=tau, eta=1.0)
    m4 = float((x - x.mean()).pow(4).mean())
    assert abs(float(x.var()) - expected) < Z * variance_se(float(x.var()), m4, replicates)
    assert expected > 0.0159391


@pytest.mark.slow
@pytest.mark.parametrize("theta", [0.0, -1.0])
@pytest.mark.parametrize("name,options", [("relax", {}), ("rebar", {"learn": True})])
def test_learned_control_variates_are_unbiased(name: str, options: dict, theta: float) -> None:
    """Unbiased whatever the control variate: at its starting parameters (RELAX's random network)."""
    replicates = 200_000
    x = estimates(name, theta, 0.45, replicates, state={}, **options)
    exact = float(Target(0.45).grad(torch.tensor(theta, dtype=DTYPE)))
    assert abs(float(x.mean()) - exact) < Z * float(x.std()) / math.sqrt(replicates)


def learned_variance(name: str, steps: int, **options) -> tuple[Tensor, dict]:
    """Learn the control variate at θ = 0 (t = 0.45) for ``steps`` one-sample steps, 64 replicates,
    then draw 4000 terms per replicate: their variance per replicate, and the state."""
    torch.manual_seed(5)
    q, state = logits(0.0, 64), {}
    learn = getattr(control_variates, name)
    for _ in range(steps):
        learn(Target(0.45), q, 1, state=state, **options)
    return learn(Target(0.45), q, 4000, state=state, **options)[..., 0].var(-1), state


@pytest.mark.slow
def test_relax_learns_a_control_variate_that_removes_most_of_the_variance() -> None:
    """At θ = 0 a constant near J removes almost all of REINFORCE's variance (REFERENCE); RELAX's
    network finds one: its variance falls far below REINFORCE's 0.0159391."""
    variance, state = learned_variance("relax", 600)
    assert float(variance.mean()) + Z * float(variance.std()) / math.sqrt(64) < 0.0159391 / 10
    assert state["parameters"]["w_in"].shape == (64, 1, 10)  # one network per replicate


@pytest.mark.slow
def test_learned_rebar_moves_eta_and_beats_eta_one() -> None:
    """REFERENCE: at θ = 0, η = 1 has variance 0.0226531, above REINFORCE's; learning η brings it
    down to about REINFORCE's (the best η gains at most 0.15%)."""
    variance, state = learned_variance("rebar", 600, learn=True)
    assert float(variance.mean()) + Z * float(variance.std()) / math.sqrt(64) < 0.0226531
    assert float(state["logged"]["estimator/eta"]) < 0.5
    assert state["parameters"]["eta"].shape == (64, 1, 1)


@pytest.mark.parametrize("name,options", [("relax", {}), ("rebar", {"learn": True}), ("score_ema", {})])
def test_extra_variance_draws_leave_the_learned_state_alone(name: str, options: dict) -> None:
    """Draws made only to measure the variance (a ``frozen`` state) take no learning step."""
    estimator = ESTIMATORS[name]
    q, state = logits(0.0, 8), {}
    estimator(Target(0.45), q, 1, state=state, **options)
    before = {k: v.clone() for k, v in state.get("parameters", {"baseline": state.get("baseline")}).items()}
    estimator(Target(0.45), q, 50, state={**state, "frozen": True}, **options)
    after = state.get("parameters", {"baseline": state.get("baseline")})
    assert all(torch.equal(before[k], after[k]) for k in before)
