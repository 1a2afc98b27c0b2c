"""Statistics across replicates at one step, and the run's end-of-training metrics.

Memory is O(replicates + steps): the tracker keeps one RMS error per step and a running path
length per replicate, never the full trajectory.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import Tensor


def across_replicates(theta: Tensor, theta_star: float | None) -> dict[str, Tensor | None]:
    """The θ statistics that go to TensorBoard, over the last axis (θ [..., replicates] gives [...]); no RMS error without θ*."""
    q05, q95 = torch.quantile(theta, _quantiles(theta.dtype, theta.device), dim=-1)
    return {
        "theta/mean": theta.mean(-1),
        "theta/rms_error": None if theta_star is None else (theta - theta_star).square().mean(-1).sqrt(),
        "theta/q05": q05,
        "theta/q95": q95,
    }


@functools.lru_cache(maxsize=None)
def _quantiles(dtype: torch.dtype, device: torch.device) -> Tensor:
    """The 5% and 95% levels as a tensor, made once per dtype and device."""
    return torch.tensor([0.05, 0.95], dtype=dtype, device=device)


def finite_or_none(value: Tensor) -> float | None:
    """A metric as a float, or None where no live replicate was left to measure: never NaN."""
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class RunMetrics:
    """End-of-run metrics; ``summary.json``, the hparams entry and the final line all print these.

    The three built on θ* are None when the objective has no θ* (see ``Objective.optimum``).
    """

    steps_to_tolerance: int | None
    final_rms_error: float | None
    stationary_rms: float | None
    path_length_ratio: float | None
    diverged: int


class MetricTracker:
    """Accumulates, step by step, what the end-of-run metrics need.

    While every replicate is alive, θ_t is only copied into a buffer row; the path lengths and
    mean square errors of all buffered steps are computed together when it fills (or is flushed).
    """

    #: Buffer rows × replicates stays under this many values.
    BUFFER_VALUES = 1 << 18

    def __init__(self, theta0: Tensor, steps: int, theta_star: float | None) -> None:
        self.theta_star = theta_star
        self.theta0 = theta0.detach().clone()
        self.previous = self.theta0.clone()
        self.path_length = torch.zeros_like(self.theta0)
        self.mean_square_error = torch.full((steps + 1,), math.nan, device=theta0.device)
        self.buffer = self.theta0.new_empty(max(1, min(1024, self.BUFFER_VALUES // self.theta0.numel())),
                                            self.theta0.numel())
        self.first_step, self.rows = 0, 0

    def update(self, step: int, theta: Tensor, alive: Tensor, every_alive: bool = False) -> None:
        """Record θ_step; replicates not ``alive`` (diverged) are left out of the statistics.

        ``every_alive`` (the caller knows it already) takes the buffered path without masks.
        """
        theta = theta.detach()
        if every_alive:
            if self.rows == 0:
                self.first_step = step
            self.buffer[self.rows].copy_(theta)
            self.rows += 1
            if self.rows == len(self.buffer):
                self.flush()
            return
        self.flush()
        self.path_length += torch.where(alive, (theta - self.previous).abs(), 0.0)
        self.previous = torch.where(alive, theta, self.previous)
        if self.theta_star is None:
            return
        error = (theta[alive] - self.theta_star).square()
        self.mean_square_error[step] = error.mean() if error.numel() else math.nan

    def flush(self) -> None:
        """Fold the buffered steps (consecutive, every replicate alive) into the statistics."""
        if self.rows == 0:
            return
        rows = self.buffer[: self.rows]
        path = torch.cat([self.previous.unsqueeze(0), rows]).diff(dim=0).abs_().sum(0)
        self.path_length.add_(path)
        self.previous.copy_(rows[-1])
        if self.theta_star is not None:
            errors = (rows - self.theta_star).square().mean(-1)
            self.mean_square_error[self.first_step : self.first_step + self.rows] = errors
        self.rows = 0

    def finish(self, last_step: int, tolerance: float, alive: Tensor) -> RunMetrics:
        self.flush()
        rms = self.mean_square_error[: last_step + 1].sqrt().cpu()
        above = torch.nonzero(~(rms <= tolerance)).flatten()
        if not bool(rms[-1] <= tolerance):
            steps_to_tolerance = None
        else:
            steps_to_tolerance = int(above[-1]) + 1 if above.numel() else 0
        quarter = max(1, (last_step + 1) // 4)
        stationary = self.mean_square_error[last_step + 1 - quarter : last_step + 1].mean().sqrt()
        displacement = (self.previous - self.theta0).abs()
        ratio = (self.path_length / displacement)[alive & (displacement > 0)]
        path_length_ratio = float(ratio.median()) if ratio.numel() else None
        known = self.theta_star is not None
        return RunMetrics(
            steps_to_tolerance=steps_to_tolerance,
            final_rms_error=finite_or_none(rms[-1]) if known else None,
            stationary_rms=finite_or_none(stationary) if known else None,
            path_length_ratio=path_length_ratio,
            diverged=int((~alive).sum()),
        )
