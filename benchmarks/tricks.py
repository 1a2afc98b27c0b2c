"""``--only tricks``: what each variance-reduction trick costs per step, against iid draws and no
control variate in the same process.

Per step: one call of the estimator with the trick (``estimators/reduction.py``, as a run builds
it) on a Gaussian q at a fixed point, ``est(cost, q, n)`` inside the cost's ``one_batch``, on

- the square, R = 256 replicates, D = 1, n = 16, σ = 1 fixed;
- Bayesian logistic regression (breast cancer, D = 31, N = 569), R = 16, n = 16, μ = 0,
  σ = 0.1 learned per coordinate (``learned="diagonal"``, 62 parameters per replicate),

for ``pathwise`` and ``score``, each with: antithetic draws, Sobol' draws (one scramble), the delta
method with β leave-one-out (``coefficient_samples=0``) and from 25 extra draws, and (score only)
a moving-average baseline. Within each repeat every side of a group (iid/none first, then each
trick) is timed in turn, over as many steps as fill ``budget_s`` at the warm-up's speed (at least
one), so each trick's ratio is to the baseline of its own repeat.

At the level of a run: ``train.py``'s default run (pathwise on the square, 256 replicates, n = 2,
200 steps) with ``draws=sobol`` against ``draws=iid``, each a whole ``train()`` call as
``benchmarks/loops.py`` makes it, alternated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.loops import compose_config, real_run
from benchmarks.timing import Comparison, seconds
from reparam_opt.estimators import ESTIMATORS
from reparam_opt.estimators.delta_method import Delta
from reparam_opt.estimators.moving_average import MovingAverage
from reparam_opt.estimators.reduction import NoControl, reduced
from reparam_opt.families.draws import IID, Antithetic, Sobol
from reparam_opt.families.gaussian import GaussianFamily, at_point
from reparam_opt.objectives import Square
from reparam_opt.objectives.logistic_regression import LogisticRegression


@dataclass(frozen=True)
class Case:
    """A cost and the q every side of it is timed at."""

    name: str
    cost: Callable[[], Any]
    replicates: int
    dim: int
    theta: float
    sigma: float
    learned: str
    n_samples: int


#: The two settings the figures are taken at.
CASES = (
    Case("square", Square, 256, 1, 2.0, 1.0, "fixed", 16),
    Case("logistic", LogisticRegression, 16, 31, 0.0, 0.1, "diagonal", 16),
)

#: Each trick by its label: (draws, control variate). iid/none is the baseline of every group.
TRICKS: dict[str, tuple[Any, Any]] = {
    "antithetic": (Antithetic(), NoControl()),
    "sobol": (Sobol(scrambles=1), NoControl()),
    "delta k=0": (IID(), Delta(coefficient_samples=0)),
    "delta k=25": (IID(), Delta(coefficient_samples=25)),
    "moving_average": (IID(), MovingAverage()),
}

BASELINE = "iid/none"


@dataclass
class TrickCost:
    """Seconds per step of one trick and of iid/none in the same repeats, one entry per repeat."""

    case: str
    estimator: str
    trick: str
    seconds: list[float]
    baseline: list[float]

    def ratios(self) -> list[float]:
        """The trick's time per step over iid/none's, per repeat: above 1 means the trick costs more."""
        return [t / b for t, b in zip(self.seconds, self.baseline)]


def step_timer(case: Case, cost: Any, estimator: str, draws: Any, control: Any, budget_s: float):
    """A call that times steps of ``estimator`` with the trick at ``case``'s q and returns seconds
    per step; its first call (the warm-up) fixes how many steps fill ``budget_s``."""
    est = reduced(ESTIMATORS[estimator], draws, control, GaussianFamily.name, case.n_samples)
    q = at_point(case.replicates, case.dim, case.theta, case.sigma, case.learned).with_draws(draws)
    state: dict = {}  # a moving average's c, carried from step to step as in a run

    def step() -> None:
        with cost.one_batch():
            est(cost, q, case.n_samples, state=state)

    steps = 0

    def per_step() -> float:
        nonlocal steps
        if not steps:  # warm-up: one step untimed, one timed to size the rest
            step()
            steps = max(1, math.ceil(budget_s / max(seconds(step), 1e-9)))
        return seconds(lambda: [step() for _ in range(steps)]) / steps

    return per_step


def step_costs(
    repeats: int,
    cases: tuple[Case, ...] = CASES,
    estimators: tuple[str, ...] = ("pathwise", "score"),
    budget_s: float = 0.3,
) -> list[TrickCost]:
    """Every trick that applies, per case and estimator, against iid/none, ``repeats`` rounds of
    each group's sides in turn after a warm-up of each."""
    found = []
    for case in cases:
        cost = case.cost()
        for estimator in estimators:
            timers = {BASELINE: step_timer(case, cost, estimator, IID(), NoControl(), budget_s)}
            for label, (draws, control) in TRICKS.items():
                try:
                    timers[label] = step_timer(case, cost, estimator, draws, control, budget_s)
                except ValueError:  # moving_average on pathwise: a trick that does not apply
                    continue
            for timer in timers.values():
                timer()
            times: dict[str, list[float]] = {label: [] for label in timers}
            for _ in range(repeats):
                for label, timer in timers.items():
                    times[label].append(timer())
            found.extend(
                TrickCost(case.name, estimator, label, times[label], times[BASELINE])
                for label in timers
                if label != BASELINE
            )
    return found


def sobol_run(repeats: int, *overrides: str) -> Comparison:
    """``train.py``'s default run with ``draws=sobol`` (measured) against ``draws=iid`` (baseline),
    whole ``train()`` calls, alternated; ``overrides`` apply to both (a smaller run in a test)."""
    sobol = compose_config("draws=sobol", *overrides)
    iid = compose_config("draws=iid", *overrides)
    return Comparison.run("sobol run", lambda: real_run(sobol), lambda: real_run(iid), repeats)
