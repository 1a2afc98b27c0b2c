"""A moving-average baseline (``control_variate=moving_average``) for the score function, on any
family: (f(x) − c)∇log q(x), then c ← decay·c + (1 − decay)·mean f over the step's samples.

c is one number per replicate, made from past steps only, so each step's estimate is unbiased
given the past (E ∇log q = 0). It starts at 0, as the Bernoulli family's ``score_ema`` does, and
its mean over replicates is logged as ``estimator/baseline``. It changes only an estimator whose
terms move when a constant is added to f (``Estimator.takes_baseline``): the plain score
function. A leave-one-out baseline, pathwise and measure-valued terms are blind to a constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor


@dataclass(frozen=True)
class MovingAverage:
    """``control_variate=moving_average``: its ``decay``, in [0, 1)."""

    decay: float = 0.95

    name: ClassVar[str] = "moving_average"
    stateful: ClassVar[bool] = True
    #: Given the past the terms are independent, so the estimator's own in-step rule holds.
    keeps_in_step: ClassVar[bool] = True
    extra_samples: ClassVar[int] = 0
    extra_f_evals: ClassVar[int] = 0
    terms_held: ClassVar[int] = 1

    @property
    def warmup(self) -> int:
        """Calls at a fixed q before c has forgotten its start to e⁻⁵: what the variance study
        makes before it measures."""
        return max(1, round(5.0 / (1.0 - self.decay))) if self.decay > 0 else 1

    def check(self, estimator: Any, family: str, draws: Any, n_samples: int) -> None:
        if not estimator.takes_baseline:
            raise ValueError(
                f"bad value control_variate=moving_average: estimator={estimator.name}'s terms do not "
                "change when a constant is subtracted from f; it applies to estimator=score"
            )

    def wrap(self, terms_fn: Any, estimator: Any) -> Any:
        def controlled(
            cost: Any, q: Any, n_samples: int, state: dict | None = None, **options: Any
        ) -> Tensor:
            state = {} if state is None else state
            baseline = state.get("moving_average")
            means: list[Tensor] = []

            def shifted(x: Tensor) -> Tensor:
                fx = cost(x)
                means.append(fx.detach().mean(-1, keepdim=True))
                return fx if baseline is None else fx - baseline

            terms = terms_fn(shifted, q, n_samples, **options)
            if not state.get("frozen"):
                used = torch.zeros_like(means[0]) if baseline is None else baseline
                state["moving_average"] = self.decay * used + (1.0 - self.decay) * means[0]
                state["logged"] = {"estimator/baseline": used.mean()}  # the c this step used
            return terms

        return controlled

    def closed_form(self, *_) -> None:
        """c depends on the run's past: no closed form."""
        return None

    def scale_closed_form(self, *_) -> None:
        return None
