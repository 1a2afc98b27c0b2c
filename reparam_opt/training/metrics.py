"""θ's history, statistics across replicates, and the run's end-of-training metrics.

``History`` is the one buffer of θ that both consumers read: the end-of-run metrics
(``MetricTracker``) and the logged scalars (``board.StepLog``). Memory is O(replicates + steps):
the buffer holds a block of steps at a time, and the tracker keeps one RMS error per step and a
running path length per replicate, never the full trajectory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from reparam_opt.families.statistics import finite_or_none, quantiles


def across_replicates(mu: Tensor, mu_star: float | None) -> dict[str, Tensor | None]:
    """The θ statistics that go to TensorBoard: μ [..., replicates, D] gives [...].

    The mean is over replicates and coordinates; the quantiles follow coordinate 0; the RMS error
    is over replicates of ‖μ − μ*‖, and there is none without μ*.
    """
    q05, q95 = quantiles(mu[..., 0])
    return {
        "theta/mean": mu.flatten(-2).mean(-1),
        "theta/rms_error": None if mu_star is None else (mu - mu_star).square().sum(-1).mean(-1).sqrt(),
        "theta/q05": q05,
        "theta/q95": q95,
    }


def norm(displacement: Tensor) -> Tensor:
    """‖·‖ over the last axis (coordinates); in one dimension exactly |·|, with no x² to underflow."""
    if displacement.shape[-1] == 1:
        return displacement.abs().squeeze(-1)
    return torch.linalg.vector_norm(displacement, dim=-1)


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


class History:
    """The parameter rows θ [replicates, P] at consecutive steps while every replicate is alive,
    with the estimate, its in-step variance and the sampled loss at the steps that are logged.

    Recording a step is a row copy; the statistics of the whole block are computed together
    when it fills, before a step with diverged replicates, and at the end of the run.
    """

    #: Rows × replicates stays under this many values per buffer, and rows under MAX_ROWS.
    BUFFER_VALUES = 1 << 18
    MAX_ROWS = 1024

    def __init__(self, theta: Tensor, variance: bool) -> None:
        rows = max(1, min(self.MAX_ROWS, self.BUFFER_VALUES // theta.numel()))
        self.theta = theta.new_empty(rows, *theta.shape)
        self.grad = torch.empty_like(self.theta)
        self.variance = torch.empty_like(self.theta) if variance else None
        #: The sampled loss per replicate at the logged steps (``loss.replicate_loss``).
        self.loss = self.theta.new_empty(*self.theta.shape[:-1], 2)
        #: Which replicates were alive at each buffered step, as the device knew it then.
        self.alive = torch.empty(self.theta.shape[:-1], dtype=torch.bool, device=theta.device)
        self.first_step, self.rows = 0, 0
        #: The buffered rows that are logged, in order; row ``logged[i]``'s estimate is ``grad[i]``.
        self.logged: list[int] = []

    def add(self, step: int, theta: Tensor, alive: Tensor) -> None:
        """Record θ and the live replicates at ``step``, the step after the last one recorded (or the
        first of a new block)."""
        if self.rows == 0:
            self.first_step = step
        self.theta[self.rows].copy_(theta)
        self.alive[self.rows].copy_(alive)
        self.rows += 1

    def live_counts(self) -> list[int]:
        """The live replicates at each buffered step: one copy to the host for the whole block."""
        return self.alive[: self.rows].sum(-1).tolist()

    def truncate(self, rows: int) -> None:
        """Keep the first ``rows`` buffered steps (and the logged ones among them)."""
        self.rows = rows
        self.logged = [row for row in self.logged if row < rows]

    def log(self, grad: Tensor, variance: Tensor | None, loss: Tensor) -> None:
        """Mark the step just added as logged, with its estimate, in-step variance and sampled loss."""
        logged = len(self.logged)
        self.grad[logged].copy_(grad)
        if self.variance is not None:
            self.variance[logged].copy_(variance)
        self.loss[logged].copy_(loss)
        self.logged.append(self.rows - 1)

    @property
    def full(self) -> bool:
        return self.rows == len(self.theta)

    @property
    def logged_steps(self) -> list[int]:
        return [self.first_step + row for row in self.logged]

    def logged_theta(self) -> Tensor:
        """θ at the logged steps, [logged steps, replicates, P]."""
        if len(self.logged) == self.rows:  # every step logged: a view, no copy
            return self.theta[: self.rows]
        return self.theta[self.logged]

    def clear(self) -> None:
        self.rows = 0
        self.logged.clear()


class MetricTracker:
    """Accumulates, step by step, what the end-of-run metrics need: they measure μ, the first ``dim``
    entries of each parameter row, by its distance ‖μ − μ*‖ and the length of its path."""

    def __init__(self, theta0: Tensor, steps: int, theta_star: float | None, dim: int = 1) -> None:
        self.theta_star, self.dim = theta_star, dim
        self.theta0 = theta0.detach()[..., :dim].clone()
        self.previous = self.theta0.clone()
        self.path_length = torch.zeros_like(self.theta0[..., 0])
        self.mean_square_error = torch.full((steps + 1,), math.nan, device=theta0.device)

    def fold(self, history: History) -> None:
        """Add the buffered steps (consecutive, every replicate alive) to the statistics."""
        if history.rows == 0:
            return
        rows = history.theta[: history.rows, :, : self.dim]
        path = norm(torch.cat([self.previous.unsqueeze(0), rows]).diff(dim=0)).sum(0)
        self.path_length.add_(path)
        self.previous.copy_(rows[-1])
        if self.theta_star is not None:
            errors = (rows - self.theta_star).square().sum(-1).mean(-1)
            self.mean_square_error[history.first_step : history.first_step + history.rows] = errors

    def update(self, step: int, theta: Tensor, alive: Tensor) -> None:
        """Add θ at a step where some replicates have diverged; those are left out."""
        mu = theta[..., : self.dim]
        self.path_length += torch.where(alive, norm(mu - self.previous), 0.0)
        self.previous = torch.where(alive.unsqueeze(-1), mu, self.previous)
        if self.theta_star is None:
            return
        error = (mu[alive] - self.theta_star).square().sum(-1)
        self.mean_square_error[step] = error.mean() if error.numel() else math.nan

    def finish(self, last_step: int, tolerance: float, alive: Tensor) -> RunMetrics:
        """The metrics after ``last_step``; every step must have been folded in or updated."""
        rms = self.mean_square_error[: last_step + 1].sqrt().cpu()
        above = torch.nonzero(~(rms <= tolerance)).flatten()
        if not bool(rms[-1] <= tolerance):
            steps_to_tolerance = None
        else:
            steps_to_tolerance = int(above[-1]) + 1 if above.numel() else 0
        quarter = max(1, (last_step + 1) // 4)
        stationary = self.mean_square_error[last_step + 1 - quarter : last_step + 1].mean().sqrt()
        displacement = norm(self.previous - self.theta0)
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
