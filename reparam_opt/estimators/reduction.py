"""An estimator with a variance-reduction trick applied: how its ε are drawn (``draws``) and a
control variate (``control_variate``), made into an ``Estimator`` the run and the study use as
they use any other.

``reduced(estimator, draws, control)`` is the estimator itself when the draws are independent and
there is no control variate, so the default run is the run it always was. Otherwise it is a copy
whose terms are the control variate's wrapping of its own, whose in-step variance is taken over
the draws' independent units (``reparam_opt/families/draws.py``), whose closed forms are the
trick's where one exists (and absent elsewhere), and which takes each step whole: antithetic and
Sobol' draws are made per replicate row, a control variate evaluates f more than once per step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor

from reparam_opt.estimators.spec import Estimator, sample_variance_of_mean


@dataclass(frozen=True)
class NoControl:
    """``control_variate=none``."""

    name: ClassVar[str] = "none"
    stateful: ClassVar[bool] = False
    keeps_in_step: ClassVar[bool] = True
    extra_samples: ClassVar[int] = 0
    extra_f_evals: ClassVar[int] = 0
    terms_held: ClassVar[int] = 1
    #: Calls at a fixed q the variance study makes before it measures: none without state.
    warmup: ClassVar[int] = 0

    def check(self, estimator: Any, family: str, draws: Any, n_samples: int) -> None:
        """Nothing to check."""

    def wrap(self, terms_fn: Any, estimator: Any) -> Any:
        return terms_fn

    def closed_form(
        self, estimator: Any, draws: Any, cost: Any, mu: Tensor, sigma: Any, n: int
    ) -> Tensor | None:
        return draws.closed_form(estimator, cost, mu, sigma, n)

    def scale_closed_form(
        self, estimator: Any, draws: Any, cost: Any, mu: Tensor, sigma: Any, learned: str
    ) -> Tensor | None:
        return draws.scale_closed_form(estimator, cost, mu, sigma, learned)


def reduced(
    estimator: Estimator, draws: Any, control: Any, family: str, n_samples: int, key: str = "n_samples"
) -> Estimator:
    """``estimator`` with the trick applied, after checking that it applies (one line if not;
    ``key`` is what the line calls n)."""
    draws.check(n_samples, key)
    if estimator.terms_share_samples and not draws.independent:
        raise ValueError(
            f"bad value draws={draws.name}: estimator={estimator.name}'s baseline averages f over the "
            "other samples, which with correlated draws include a sample's own partner, and the "
            "estimate is biased; use draws=iid"
        )
    control.check(estimator, family, draws, n_samples)
    if draws.independent and control.name == NoControl.name:
        return estimator
    base = estimator

    def variance_of_mean(terms: Tensor, mean: Tensor | None = None) -> Tensor | None:
        """Over the draws' independent units; none where the units are too few or correlated."""
        if draws.independent and control.keeps_in_step:
            return base.variance_of_mean(terms, mean)
        if base.terms_share_samples:  # correlated terms (a leave-one-out baseline)
            return None
        units = draws.units(terms)
        return sample_variance_of_mean(units) if units.shape[-2] > 1 else None

    return dataclasses.replace(
        estimator,
        terms={name: control.wrap(fn, base) for name, fn in estimator.terms.items()},
        variance_of_mean=variance_of_mean,
        closed_form=lambda est, cost, mu, sigma, n: control.closed_form(base, draws, cost, mu, sigma, n),
        scale_closed_form=lambda est, cost, mu, sigma, learned: control.scale_closed_form(
            base, draws, cost, mu, sigma, learned
        ),
        stateful=estimator.stateful or control.stateful,
        draws_once=False,
        extra_samples=control.extra_samples,
        extra_f_evals=control.extra_f_evals,
        terms_held=control.terms_held,
        trick=f"draws={draws.name}, control_variate={control.name}",
    )
