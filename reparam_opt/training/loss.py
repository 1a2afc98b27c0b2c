"""The loss each logged step records: a Monte Carlo estimate of the objective at θ_t, with its
standard error, so that every run has a loss curve, whether or not J has a closed form.

The estimate is the mean of f over n fresh draws of q_t per live replicate (``Family.sampled_loss``,
which adds what the family's objective adds to E_q[f], such as −λH), not over the draws the
estimator made: those are not all draws of q (the measure-valued estimator moves coordinates,
a relaxed one relaxes b, ``exact`` draws none). The draws come from a fork of the random stream,
so the run's own draws, and its θ path, are those it makes without them; they are not counted as
f-evaluations. The standard error treats the R·n values as one sample; across replicates at
different θ it includes their spread.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

#: The tags it writes.
LOSS_TAGS = ("loss/monte_carlo", "loss/monte_carlo_se")


def monte_carlo_loss(family: Any, objective: Any, q: Any, n_samples: int, alive: Tensor) -> dict[str, Tensor]:
    """The mean of the sampled loss over the live replicates and their draws, and its standard error."""
    device = alive.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
        values = family.sampled_loss(objective, q, n_samples)  # [replicates, n]
    weights = alive.unsqueeze(-1).expand_as(values)
    count = weights.sum()
    values = torch.where(weights, values, 0.0)
    mean = values.sum() / count
    spread = torch.where(weights, values - mean, 0.0).square().sum() / (count - 1).clamp(min=1)
    return {LOSS_TAGS[0]: mean, LOSS_TAGS[1]: (spread / count).sqrt()}
