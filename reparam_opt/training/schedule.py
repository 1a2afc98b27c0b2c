"""The learning rate's schedule over a run: constant, or a quarter cosine.

The quarter cosine multiplies the rate by cos(π/2 · t/T) at step t of T, from 1 down to 0 at the
last step: Mohamed et al.'s (2020) Bayesian logistic regression decays plain SGD this way
(google-deepmind/mc_gradients, ``main.py``), which is not the usual half cosine ½(1 + cos πt/T).
torch's ``LambdaLR`` applies it, so any optimizer takes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.optim.lr_scheduler import LambdaLR


def quarter_cosine(steps: int) -> Callable[[int], float]:
    return lambda t: math.cos(0.5 * math.pi * min(t, steps) / steps)


#: The ``lr_schedule`` key's values: each gives the rate's multiplier at step t of ``steps``
#: (None: the rate stays as the optimizer has it, and no scheduler is made).
SCHEDULES: dict[str, Callable[[int], Callable[[int], float]] | None] = {
    "constant": None,
    "quarter_cosine": quarter_cosine,
}


def scheduler(name: str, optimizer: torch.optim.Optimizer, steps: int) -> LambdaLR | None:
    """The run's scheduler, stepped once after each update, or None for a constant rate."""
    multiplier = SCHEDULES[name]
    return None if multiplier is None else LambdaLR(optimizer, multiplier(steps))
