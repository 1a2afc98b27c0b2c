"""Statistics across replicates that every family's scalars and metrics use."""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor


def average(values: Tensor) -> Tensor:
    """The mean over replicates and coordinates: [..., replicates, D] gives [...]."""
    return values.flatten(-2).mean(-1)


def quantiles(values: Tensor) -> Tensor:
    """The 5% and 95% quantiles over the last axis, stacked first: [2, ...]."""
    return torch.quantile(values, _quantiles(values.dtype, values.device), dim=-1)


@functools.cache
def _quantiles(dtype: torch.dtype, device: torch.device) -> Tensor:
    """The 5% and 95% levels as a tensor, made once per dtype and device."""
    return torch.tensor([0.05, 0.95], dtype=dtype, device=device)


def finite_or_none(value: Tensor) -> float | None:
    """A metric as a float, or None where no live replicate was left to measure: never NaN."""
    value = float(value)
    return value if math.isfinite(value) else None
