"""The Bernoulli toy at fixed θ: each estimator's bias, variance and signal-to-noise, and the relaxed
estimators against their temperature.

``python -m reparam_opt.bernoulli_table`` prints two Markdown tables for f(b) = (b − t)²:

- at each ``--theta`` (default 0 and −1), every estimator that applies to the family, from
  ``--replicates`` independent estimates: the mean ± its standard error against dJ/dθ, the bias in
  standard errors, n × the variance with its closed form where one exists, and the
  signal-to-noise ratio |dJ/dθ|/sd. Every estimator uses the f-evaluations the ``relax_toy``
  preset gives it (one sample; two for the leave-one-out baseline). RELAX is at its starting
  network and REBAR at η = 1, since their learned state depends on a run.
- for ``concrete`` and ``straight_through`` at τ = 0.1 … 2: the mean at θ = 0 over the exact
  gradient (its bias factor; for Concrete 4m(τ)/τ with m(τ) = E[b̃(1 − b̃)]), the variance, and
  the θ where the expected estimate is zero, where SGD stalls. The columns marked quadrature and
  the stall θ are quadratures over the logistic noise, split where straight-through's hard sample
  jumps (``expected_relaxed``), not samples.
"""

from __future__ import annotations

import functools
import math
import sys

import numpy as np
import torch

from reparam_opt.estimators import ESTIMATORS
from reparam_opt.families.bernoulli import BernoulliFamily, BernoulliQ
from reparam_opt.objectives import Target
from reparam_opt.training.cli import LineParser

#: The temperatures of the sweep.
TEMPERATURES = (0.1, 0.25, 0.5, 1.0, 2.0)

#: Gauss–Legendre nodes on each side of z = 0 for the relaxed estimators' expectations
#: (``expected_relaxed``). The integrands there are smooth, so the error falls geometrically: 200
#: already reach float64 rounding (≈ 1e−12 relative) at every τ of the sweep; numpy's nodes
#: themselves lose accuracy past a thousand or so.
NODES = 400

#: How far past θ and 0 the quadrature runs: the logistic density is below e^(−TAIL) there.
TAIL = 40.0


def samples(name: str) -> int:
    return ESTIMATORS[name].min_samples


def estimates(name: str, theta: float, t: float, replicates: int, **options) -> torch.Tensor:
    """``replicates`` independent estimates at θ in float64, each from the estimator's own n."""
    q = BernoulliQ(torch.full((replicates, 1), theta, dtype=torch.float64))
    state = {} if ESTIMATORS[name].stateful else None
    extra = {"state": state} if state is not None else {}
    return ESTIMATORS[name](Target(t), q, samples(name), **extra, **options).detach().mean(-2)[:, 0]


def bias_table(thetas: list[float], t: float, replicates: int, seed: int) -> str:
    torch.manual_seed(seed)
    lines = [
        f"t = {t:g}, {replicates} estimates per row; n × variance against its closed form where one exists",
        "",
        "| θ | estimator | n | mean ± SE | dJ/dθ | (mean − dJ/dθ)/SE | n × variance | closed form | SNR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    target = Target(t)
    for theta in thetas:
        exact = float(target.grad(torch.tensor(theta, dtype=torch.float64)))
        for name, estimator in ESTIMATORS.items():
            if not estimator.applies_to("bernoulli"):
                continue
            n = samples(name)
            x = estimates(name, theta, t, replicates)
            mean, sd = float(x.mean()), float(x.std())
            se = sd / math.sqrt(replicates)
            closed = BernoulliFamily.closed_form_variance(
                name, target, torch.tensor([[theta]], dtype=torch.float64), n
            )
            exactly = sd <= 1e-12 * abs(exact)  # the exact gradient: float64 rounding only
            z = "– (no variance)" if exactly else f"{(mean - exact) / se:+.2f}"
            snr = "∞" if exactly else f"{abs(exact) / sd:.3g}"
            lines.append(
                f"| {theta:g} | {name} | {n} | {mean:.5f} ± {se:.1g} | {exact:.5f} | {z} "
                f"| {n * sd**2:.4g} | {'–' if closed is None else f'{float(closed):.4g}'} | {snr} |"
            )
    return "\n".join(lines)


@functools.cache
def _legendre() -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights moved to (0, 1), computed once."""
    nodes, weights = np.polynomial.legendre.leggauss(NODES)
    return (nodes + 1) / 2, weights / 2


def logistic(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """σ(s) and σ(s)(1 − σ(s)) (the logistic density), without overflow for any s."""
    e = np.exp(-np.abs(s))
    return np.where(s >= 0, 1, e) / (1 + e), e / (1 + e) ** 2


def expected_relaxed(name: str, theta: float, t: float, tau: float) -> tuple[float, float]:
    """Mean and variance of one relaxed term at θ over the logistic noise, by Gauss–Legendre
    quadrature split at the jump.

    Concrete's term is 2(b̃ − t)b̃(1 − b̃)/τ, straight-through's 2(b − t)b̃(1 − b̃)/τ, with
    b̃ = σ(z/τ), b = 1[z > 0] and z = θ + logit u, u ~ U(0, 1) (docs/maths.md, "The Bernoulli toy").
    The expectation over u is taken over z instead (u = σ(z − θ), du = σ′(z − θ) dz, the logistic
    density), on [min(θ, 0) − TAIL, 0] and [0, max(θ, 0) + TAIL] with NODES nodes each:

    - straight-through's term jumps at z = 0 (u₀ = σ(−θ)), by 2b̃(1 − b̃)/τ = 1/(2τ), as b goes from
      0 to 1; on each piece b is the constant it is there, not the sign of a rounded z. A rule over
      the whole of u ∈ (0, 1), not split, makes an O(1/nodes) error at the jump, which cancels by
      symmetry at θ = 0 only, and so moves the stall points.
    - Concrete's term has no jump but peaks at z = 0 with width ≈ τ. Over z that peak keeps its width
      whatever θ; over u it narrows to ≈ τσ(θ)σ(−θ), too narrow for a few thousand nodes below θ ≈ −9.
    - Nothing else in the integrand has a kink: over z it is smooth and falls like e^(−|z − θ|), where
      over u it behaves like u^(1/τ) at the ends (√u at τ = 2), which slows Gauss–Legendre down.
    """
    x, w = _legendre()
    low, high = min(theta, 0.0) - TAIL, max(theta, 0.0) + TAIL
    z = np.concatenate([low * (1 - x), high * x])  # (low, 0), then (0, high)
    hard = np.concatenate([np.zeros_like(x), np.ones_like(x)])
    _, density = logistic(z - theta)
    weights = np.concatenate([-low * w, high * w]) * density
    relaxed, slope = logistic(z / tau)
    value = relaxed if name == "concrete" else hard
    term = 2 * (value - t) * slope / tau
    mean = float(weights @ term)
    return mean, float(weights @ (term - mean) ** 2)


def stall(name: str, t: float, tau: float, low: float = -6.0, high: float = 0.0) -> float | None:
    """The θ in [low, high] where the expected relaxed estimate is zero (bisection), or None."""
    f = lambda theta: expected_relaxed(name, theta, t, tau)[0]  # noqa: E731
    if f(low) * f(high) > 0:
        return None
    for _ in range(40):  # the bracket shrinks to 6 · 2⁻⁴⁰ ≈ 5e−12
        middle = (low + high) / 2
        low, high = (middle, high) if f(low) * f(middle) > 0 else (low, middle)
    return (low + high) / 2


def temperature_table(t: float, replicates: int, seed: int) -> str:
    torch.manual_seed(seed)
    exact = float(Target(t).grad(torch.zeros((), dtype=torch.float64)))
    lines = [
        f"t = {t:g}, θ = 0; measured from {replicates} estimates, the rest by quadrature",
        "",
        "| estimator | τ | mean ÷ dJ/dθ, measured | mean ÷ dJ/dθ, quadrature | variance, measured "
        "| variance, quadrature | θ where it stalls |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("concrete", "straight_through"):
        for tau in TEMPERATURES:
            x = estimates(name, 0.0, t, replicates, tau=tau)
            mean, variance = expected_relaxed(name, 0.0, t, tau)
            stalled = stall(name, t, tau)
            ratio, ratio_se = float(x.mean()) / exact, float(x.std()) / math.sqrt(replicates) / exact
            lines.append(
                f"| {name} | {tau:g} | {ratio:.3f} ± {ratio_se:.1g} "
                f"| {mean / exact:.3f} | {float(x.var()):.4g} | {variance:.4g} "
                f"| {'none in [−6, 0]' if stalled is None else f'{stalled:.3f}'} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = LineParser(prog="python -m reparam_opt.bernoulli_table", description=__doc__.splitlines()[0])
    parser.add_argument("--theta", type=float, action="append", help="repeatable; default 0 and −1")
    parser.add_argument("--t", type=float, default=0.45)
    parser.add_argument("--replicates", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    thetas = args.theta or [0.0, -1.0]
    for key, value in [*(("--theta", v) for v in thetas), ("--t", args.t)]:
        if not math.isfinite(value):
            sys.exit(f"bad value {key}={value}: must be a finite number")
    if args.replicates < 2:
        sys.exit(f"bad value --replicates={args.replicates}: must be an integer >= 2")
    args.theta = thetas
    print(bias_table(args.theta, args.t, args.replicates, args.seed))
    print()
    print(temperature_table(args.t, args.replicates, args.seed))


if __name__ == "__main__":
    main()
