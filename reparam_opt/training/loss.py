"""The loss each logged step records: a Monte Carlo estimate of the objective at θ_t, with its
standard error, so that every run has a loss curve, whether or not J has a closed form.

The estimate is the mean of the sampled loss over m fresh draws of q_t per live replicate (m = n,
up to a budget of ``LOSS_DRAWS`` draws per logged step: ``draws_per_replicate``)
(``Family.sampled_loss``: f, less λH where the entropy is weighted), not over the draws the
estimator made: those are not all draws of q (the measure-valued estimator moves coordinates, a
relaxed one relaxes b, ``exact`` draws none). The draws come from a generator of their own,
seeded from the run's seed (``loss_stream``), so the run's own draws, and its θ path, are those it
makes without them, and no loss draw is one the run drew too; they are not counted as
f-evaluations. The standard error treats the R·m values as one sample; across replicates at
different θ it includes their spread.

A step keeps two numbers per replicate (``replicate_loss``), which wait in the run's history with
θ; ``loss_scalars`` pools them over a block of steps' live replicates at once.
"""

from __future__ import annotations

import zlib
from typing import Any

import torch
from torch import Tensor

#: The tags it writes.
LOSS_TAGS = ("loss/monte_carlo", "loss/monte_carlo_se")

#: Draws per logged step over all replicates, at most, unless there are more replicates (then one
#: each): a step of large n would otherwise pay for its draws twice at every logged step.
LOSS_DRAWS = 1 << 12


def draws_per_replicate(replicates: int, n_samples: int) -> int:
    """m = min(n, max(1, LOSS_DRAWS // R)) fresh draws of q per replicate."""
    return min(n_samples, max(1, LOSS_DRAWS // replicates))


def loss_stream(seed: int, device: torch.device) -> torch.Generator:
    """The loss draws' own generator: seeded from the run's seed, but not with it, so that its
    stream is not the run's."""
    return torch.Generator(device=device).manual_seed(zlib.crc32(f"{seed}/loss".encode()))


def replicate_loss(family: Any, objective: Any, q: Any, n_samples: int, stream: torch.Generator) -> Tensor:
    """Per replicate, the mean of the sampled loss over ``n_samples`` (m) fresh draws of q and the
    sum of its squared deviations from that mean: [replicates, 2]."""
    with torch.no_grad():
        values = family.sampled_loss(objective, q, n_samples, stream)  # [replicates, m]
        # Not torch.var_mean: over a short last axis of many rows it is many times slower on the CPU.
        mean = values.mean(-1, keepdim=True)
        return torch.cat([mean, (values - mean).square().sum(-1, keepdim=True)], dim=-1)


def loss_scalars(loss: Tensor | None, n_samples: int) -> dict[str, Tensor | None]:
    """The pooled mean and its standard error per step: ``loss`` [steps, live replicates, 2] of
    ``n_samples`` (m) draws each gives values [steps]; None where no loss was recorded."""
    if loss is None:
        return dict.fromkeys(LOSS_TAGS)
    means, squares = loss[..., 0], loss[..., 1]
    total = means.shape[-1] * n_samples
    mean = means.mean(-1)
    spread = squares.sum(-1) + n_samples * (means - mean.unsqueeze(-1)).square().sum(-1)
    return {LOSS_TAGS[0]: mean, LOSS_TAGS[1]: (spread / ((total - 1) * total)).sqrt()}
