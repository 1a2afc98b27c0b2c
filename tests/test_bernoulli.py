"""The Bernoulli family against REFERENCE.md's closed forms ("Bernoulli toy"), 4 standard errors.

Where a variance's standard error needs the fourth moment, it comes from exact enumeration (the
score function's and the leave-one-out estimates take finitely many values) or, for the relaxed
estimators, from the sample itself (said where it is).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch
from torch import Tensor

from reparam_opt import control_variates, discrete
from reparam_opt.bernoulli import BernoulliFamily, BernoulliQ, Target
from reparam_opt.estimators import ESTIMATORS
from reparam_opt.training import train

Z = 4.0
DTYPE = torch.float64


def logits(theta: float, replicates: int) -> BernoulliQ:
    return BernoulliQ(torch.full((replicates, 1), theta, dtype=DTYPE))


def estimates(
    name: str, theta: float, t: float, replicates: int, n: int = 1, seed: int = 0, **options
) -> torch.Tensor:
    torch.manual_seed(seed)
    module = control_variates if name in ("rebar", "relax") else discrete
    terms = getattr(module, name)(Target(t), logits(theta, replicates), n, **options)
    assert terms.shape == (replicates, n, 1)
    return terms.mean(-2)[:, 0]


def enumerated(theta: float, t: float, n: int, estimate) -> tuple[float, float, float]:
    """Mean, variance and fourth central moment of ``estimate(bs)`` over all 2ⁿ outcomes of n draws."""
    p = 1 / (1 + math.exp(-theta))
    outcomes = list(itertools.product((0.0, 1.0), repeat=n))
    weights = [math.prod(p if b else 1 - p for b in bs) for bs in outcomes]
    values = [estimate(bs, p) for bs in outcomes]
    mean = sum(w * v for w, v in zip(weights, values))
    var = sum(w * (v - mean) ** 2 for w, v in zip(weights, values))
    m4 = sum(w * (v - mean) ** 4 for w, v in zip(weights, values))
    return mean, var, m4


def variance_se(var: float, m4: float, size: int) -> float:
    """The standard error of the unbiased sample variance of R values: √((μ₄ − σ⁴(R − 3)/(R − 1))/R)."""
    return math.sqrt((m4 - var**2 * (size - 3) / (size - 1)) / size)


def reinforce(t: float):
    return lambda bs, p: sum((b - t) ** 2 * (b - p) for b in bs) / len(bs)


def leave_one_out(t: float):
    def estimate(bs, p):
        n = len(bs)
        f = [(b - t) ** 2 for b in bs]
        return sum((f[i] - (sum(f) - f[i]) / (n - 1)) * (bs[i] - p) for i in range(n)) / n

    return estimate


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


@pytest.mark.parametrize(("tau", "m"), [(0.5, 0.5 - math.pi / 8), (1.0, 1 / 6)])
def test_concrete_mean_at_theta_zero_is_the_bias_factor(tau: float, m: float) -> None:
    """E = (1 − 2t)m(τ)/τ: the exact gradient times 4m(τ)/τ (0.858 at τ = ½, 2/3 at τ = 1).
    The standard error is the sample's own (the relaxed terms have no closed-form fourth moment)."""
    t, replicates = 0.45, 400_000
    x = estimates("concrete", 0.0, t, replicates, tau=tau)
    expected = (1 - 2 * t) * m / tau
    assert abs(float(x.mean()) - expected) < Z * float(x.std()) / math.sqrt(replicates)
    assert expected / float(Target(t).grad(torch.zeros(1))) == pytest.approx(4 * m / tau, rel=1e-6)


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


def test_unbiased_estimators_pass_the_concrete_stall_and_concrete_stays_at_it(
    make_cfg, tmp_path: Path
) -> None:
    """t = 0.45, Adam lr 0.05, 400 steps from θ = 0: REFERENCE's Concrete (τ = ½) stalls at θ = −0.596,
    straight-through at −0.381; the unbiased estimators keep going towards −∞."""
    common = ("family=bernoulli", "optimizer=adam", "lr=0.05", "steps=400", "replicates=128")
    median = {}
    for name, n in [
        ("score", 1),
        ("score_baseline", 2),
        ("score_ema", 1),
        ("rebar", 1),
        ("relax", 1),
        ("exact", 1),
        ("concrete", 1),
        ("straight_through", 1),
    ]:
        summary = train(make_cfg(*common, f"estimator={name}", f"n_samples={n}"), tmp_path / name)
        assert summary["diverged"] == 0
        median[name] = summary["final_theta_median"]
    for name in ("score", "score_baseline", "score_ema", "rebar", "relax", "exact"):
        assert median[name] < -0.596 - 1.0, median
    assert -0.596 - 0.3 < median["concrete"] < -0.596 + 0.3, median
    assert -0.381 - 0.3 < median["straight_through"] < -0.381 + 0.3, median


@pytest.mark.parametrize("c", [0.0, 0.1, 0.25])
def test_moving_average_baseline_is_unbiased_with_the_constant_baseline_variance(c: float) -> None:
    """Given its baseline c, (f(b) − c)(b − p) has mean dJ/dθ and variance p(1 − p)[f₁(1 − p) + f₀p − c]²
    (REFERENCE); the baseline then moves to decay·c + (1 − decay)·mean f."""
    t, theta, replicates, decay = 0.45, 0.5, 400_000, 0.9
    p = 1 / (1 + math.exp(-theta))
    state = {"baseline": torch.full((replicates, 1, 1), c, dtype=DTYPE)}
    torch.manual_seed(3)
    terms = discrete.score_ema(Target(t), logits(theta, replicates), 1, decay=decay, state=state)[:, 0, 0]
    mean, var, m4 = enumerated(theta, t, 1, lambda bs, p: ((bs[0] - t) ** 2 - c) * (bs[0] - p))
    assert var == pytest.approx(p * (1 - p) * ((1 - t) ** 2 * (1 - p) + t**2 * p - c) ** 2, rel=1e-12)
    assert mean == pytest.approx(float(Target(t).grad(torch.tensor(theta, dtype=DTYPE))), rel=1e-12)
    assert abs(float(terms.mean()) - mean) < Z * math.sqrt(var / replicates)
    assert abs(float(terms.var()) - var) < Z * variance_se(var, m4, replicates)
    moved = state["baseline"][:, 0, 0]
    after = {decay * c + (1 - decay) * t**2, decay * c + (1 - decay) * (1 - t) ** 2}
    assert set(torch.unique(moved).tolist()) <= after


def test_moving_average_state_is_fresh_per_run(make_cfg, tmp_path: Path) -> None:
    """Two runs of one config give the same numbers: the baseline starts at 0 in each."""
    cfg = make_cfg("family=bernoulli", "estimator=score_ema", "n_samples=1", "steps=30", "replicates=8")
    first, second = train(cfg, tmp_path / "a"), train(cfg, tmp_path / "b")
    assert first["final_theta_median"] == second["final_theta_median"]


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


def test_one_sample_log_variance_comes_from_extra_draws(make_cfg, tmp_path: Path) -> None:
    """With n = 1, ``variance_draws`` draws at each logged step give grad/log_variance; at θ = 0 that
    is ln 0.0159391 = −4.139 for REINFORCE at t = 0.45 (REFERENCE). The update does not see them:
    the θ path is the same with and without."""
    from tests.conftest import scalars

    base = ("family=bernoulli", "estimator=score", "n_samples=1", "steps=3", "replicates=4000")
    train(make_cfg(*base, "variance_draws=50"), tmp_path / "draws")
    train(make_cfg(*base), tmp_path / "plain")
    logged = scalars(tmp_path / "draws")
    step0 = dict(logged["grad/log_variance"])[0]
    # The mean over 4000 replicates of each one's sample variance of 50 draws, on a log scale.
    _, var, m4 = enumerated(0.0, 0.45, 1, reinforce(0.45))
    se = variance_se(var, m4, 50) / math.sqrt(4000) / var
    assert abs(step0 - math.log(var)) < Z * se
    assert "grad/log_variance" not in scalars(tmp_path / "plain")


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


def test_relax_learns_a_control_variate_that_removes_most_of_the_variance() -> None:
    """At θ = 0 a constant near J removes almost all of REINFORCE's variance (REFERENCE); RELAX's
    network finds one: its variance falls far below REINFORCE's 0.0159391."""
    variance, state = learned_variance("relax", 600)
    assert float(variance.mean()) + Z * float(variance.std()) / math.sqrt(64) < 0.0159391 / 10
    assert state["parameters"]["w_in"].shape == (64, 1, 10)  # one network per replicate


def test_learned_rebar_moves_eta_and_beats_eta_one() -> None:
    """REFERENCE: at θ = 0, η = 1 has variance 0.0226531, above REINFORCE's; learning η brings it
    down to about REINFORCE's (the best η gains at most 0.15%)."""
    variance, state = learned_variance("rebar", 600, learn=True)
    assert float(variance.mean()) + Z * float(variance.std()) / math.sqrt(64) < 0.0226531
    assert float(state["logged"]["estimator/eta"]) < 0.5
    assert state["parameters"]["eta"].shape == (64, 1, 1)


def test_learned_eta_and_tau_reach_tensorboard(make_cfg, tmp_path: Path) -> None:
    from tests.conftest import scalars

    cfg = make_cfg("family=bernoulli", "estimator=rebar", "estimator.learn=true", "n_samples=1", "steps=20")
    train(cfg, tmp_path)
    logged = scalars(tmp_path)
    assert dict(logged["estimator/eta"])[0] == pytest.approx(1.0) and len(logged["estimator/tau"]) == 21


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


@pytest.mark.parametrize(
    ("name", "tau", "expected"),
    [
        ("concrete", 0.5, -0.596),
        ("concrete", 1.0, -0.502),
        ("concrete", 2.0, -0.590),
        ("straight_through", 0.5, -0.381),
        ("straight_through", 1.0, -0.268),
        ("straight_through", 2.0, -0.223),
    ],
)
def test_stall_points_by_quadrature_are_the_references(name: str, tau: float, expected: float) -> None:
    """REFERENCE, t = 0.45: where each relaxed estimator's expected gradient is zero (3 decimals)."""
    from reparam_opt.bernoulli_table import stall

    assert stall(name, 0.45, tau) == pytest.approx(expected, abs=1.5e-3)


def test_quadrature_meets_the_closed_forms() -> None:
    """Concrete's mean (1 − 2t)m(τ)/τ and variance at τ = 1; straight-through's variance at τ = 1."""
    from reparam_opt.bernoulli_table import expected_relaxed

    t = 0.45
    assert expected_relaxed("concrete", 0.0, t, 1.0)[0] == pytest.approx((1 - 2 * t) / 6, rel=1e-9)
    assert expected_relaxed("concrete", 0.0, t, 0.5)[0] == pytest.approx(
        (1 - 2 * t) * (1 - math.pi / 4), rel=1e-6
    )
    assert expected_relaxed("concrete", 0.0, t, 1.0)[1] == pytest.approx(
        (28 * t**2 - 28 * t + 13) / 1260, rel=1e-9
    )
    assert expected_relaxed("straight_through", 0.0, t, 1.0)[1] == pytest.approx(
        (4 * t**2 - 4 * t + 7) / 180, rel=1e-6
    )
    assert expected_relaxed("concrete", 0.0, 0.1, 0.1)[0] == pytest.approx(0.8 * 0.992 / 4, rel=2e-3)


@pytest.mark.slow
def test_bernoulli_table_command(tmp_path: Path) -> None:
    from tests.conftest import ROOT
    from tests.regression import command

    text = command("-m", "reparam_opt.bernoulli_table", "--replicates", "4000", "--theta", "0", cwd=ROOT)
    rows = [line for line in text.splitlines() if line.startswith("| 0 | ")]
    assert len(rows) == 8 and "| concrete | 0.5 |" in text and "-0.596" in text


@pytest.mark.slow
def test_relax_toy_preset_runs_and_summarises(tmp_path: Path) -> None:
    """The preset through the real command, shortened: every arm finishes and the summary reports
    the exact loss, with the figure's log-variance panel fed."""
    from tests.conftest import run_train, scalars

    result = run_train(
        "-m",
        "+experiment=relax_toy",
        "steps=60",
        "replicates=4",
        "seed=0",
        f"hydra.sweep.dir={tmp_path}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    text = (tmp_path / "summary.md").read_text()
    assert "final_objective" in text and text.count("| arm=") == 10
    assert "grad/log_variance" in scalars(next(tmp_path.glob("+arm=relax*")))
