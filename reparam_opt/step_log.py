"""The per-step TensorBoard scalars, computed for many logged steps at once.

While every replicate is alive, a logged step only copies θ, the gradient and the in-step
variance into a buffer row; the statistics of all buffered rows are computed together and
written in step order when the buffer fills, before a step with diverged replicates, and at
the end. Per logged step that is three copies instead of some thirty small tensor operations.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter

from reparam_opt.board import log_histogram, log_scalars, scalar_table
from reparam_opt.estimators import variance_of_mean
from reparam_opt.metrics import across_replicates
from reparam_opt.objectives import Objective

#: Buffer rows × replicates stays under this many values per buffer.
BUFFER_VALUES = 1 << 18
BUFFER_ROWS = 256


def in_step_variance(estimator: str, terms: Tensor, grad: Tensor) -> Tensor | None:
    """Per replicate, the in-step estimate of Var(mean of the n terms); None for n = 1, which has none."""
    return variance_of_mean(estimator, terms, grad) if terms.shape[-1] > 1 else None


def scalars_over_steps(
    theta: Tensor, grad: Tensor, variance: Tensor | None, replicate0: Tensor | None, diverged: Tensor,
    objective: Objective, estimator: str, sigma: float, theta_star: float | None, n: int,
) -> dict[str, Tensor | None]:
    """The scalars of each row: θ, gradient and variance are [steps, live replicates]; values are [steps]."""
    value = objective.value(theta, sigma)
    exact = objective.grad(theta, sigma)
    analytic = objective.grad_variance(estimator, theta, sigma, n_samples=n)
    return {
        "theta/replicate0": replicate0,  # None once replicate 0 diverged: a diverged θ is never plotted
        "theta/diverged": diverged,
        **across_replicates(theta, theta_star),
        "objective/mean": None if value is None else value.mean(-1),
        "grad/mean": grad.mean(-1),
        "grad/exact": None if exact is None else exact.mean(-1),
        "grad/variance": None if variance is None else variance.mean(-1),
        "grad/variance_analytic": None if analytic is None else (analytic / n).mean(-1),
    }


def step_scalars(
    theta: Tensor, terms: Tensor, alive: Tensor, objective: Objective, estimator: str, sigma: float,
    theta_star: float | None = None, grad: Tensor | None = None,
) -> dict[str, Tensor | None]:
    """The scalars of one step over its live replicates, as 0-d tensors.

    Per-replicate reductions of ``terms`` come first and only their [replicates] results are
    masked, so a step never copies the [replicates, n_samples] terms.
    """
    grad = terms.mean(-1) if grad is None else grad
    variance = in_step_variance(estimator, terms, grad)
    rows = scalars_over_steps(theta[alive][None], grad[alive][None],
                              None if variance is None else variance[alive][None],
                              theta[0][None] if alive[0] else None, (~alive).sum()[None],
                              objective, estimator, sigma, theta_star, terms.shape[-1])
    return {tag: None if value is None else value[0] for tag, value in rows.items()}


class StepLog:
    """Logged steps' scalars and histograms on their way to TensorBoard, in step order."""

    def __init__(self, writer: SummaryWriter, objective: Objective, estimator: str, sigma: float,
                 theta_star: float | None, theta: Tensor, n_samples: int) -> None:
        self.writer, self.objective, self.estimator = writer, objective, estimator
        self.sigma, self.theta_star, self.n = sigma, theta_star, n_samples
        rows = max(1, min(BUFFER_ROWS, BUFFER_VALUES // theta.numel()))
        self.theta = theta.new_empty(rows, theta.numel())
        self.grad = torch.empty_like(self.theta)
        self.variance = torch.empty_like(self.theta) if n_samples > 1 else None
        self.steps: list[int] = []
        self.histograms: list[tuple[int, dict[str, Any]]] = []

    def add(self, step: int, theta: Tensor, terms: Tensor, grad: Tensor, alive: Tensor, every_alive: bool) -> None:
        """Record step ``step``: buffered while ``every_alive``, else flushed and written at once."""
        if not every_alive:
            self.flush()
            scalars = step_scalars(theta, terms, alive, self.objective, self.estimator, self.sigma,
                                   self.theta_star, grad)
            tags, (values,) = scalar_table({t: None if v is None else v[None] for t, v in scalars.items()})
            log_scalars(self.writer, step, tags, values)
            return
        row = len(self.steps)
        self.theta[row].copy_(theta)
        self.grad[row].copy_(grad)
        if self.variance is not None:
            self.variance[row].copy_(in_step_variance(self.estimator, terms, grad))
        self.steps.append(step)
        if len(self.steps) == len(self.theta):
            self.flush()

    def add_histogram(self, step: int, histogram: dict[str, Any]) -> None:
        """Hold a histogram until the scalars before it are written (TensorBoard wants steps in order)."""
        if self.steps:
            self.histograms.append((step, histogram))
        else:
            log_histogram(self.writer, step, histogram)

    def flush(self) -> None:
        """Compute every buffered row, then write rows and held histograms merged in step order."""
        tags, table = [], []
        if self.steps:
            k = len(self.steps)
            variance = None if self.variance is None else self.variance[:k]
            tags, table = scalar_table(scalars_over_steps(
                self.theta[:k], self.grad[:k], variance, self.theta[:k, 0], self.theta.new_zeros(k),
                self.objective, self.estimator, self.sigma, self.theta_star, self.n))
        histograms = iter(self.histograms)
        pending = next(histograms, None)
        for step, values in zip(self.steps, table):
            while pending is not None and pending[0] < step:
                log_histogram(self.writer, *pending)
                pending = next(histograms, None)
            log_scalars(self.writer, step, tags, values)
        while pending is not None:
            log_histogram(self.writer, *pending)
            pending = next(histograms, None)
        self.steps.clear()
        self.histograms.clear()
