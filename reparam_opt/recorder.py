"""What a run records at each step, and when: θ for the metrics; scalars and histograms for TensorBoard.

Scalars go to TensorBoard at a cadence of about ``POINTS_PER_SERIES`` points per run (see
``cadence``); the per-sample histogram every ``HISTOGRAM_EVERY_LOGS``-th logged step. The last
step, and the step an interrupted run stops at, get both. While every replicate is alive, a
step only copies θ (and, when logged, the estimate and its in-step variance) into the run's
``History``; its statistics are computed a block at a time.
"""

from __future__ import annotations

import math

from torch import Tensor
from torch.utils.tensorboard import SummaryWriter

from reparam_opt.board import StepLog, histogram_of, log_scalars
from reparam_opt.chunks import StepEstimate, Wants
from reparam_opt.metrics import History, MetricTracker
from reparam_opt.scalars import StepScalars

#: Logged points per scalar series when ``log_every`` is null: TensorBoard keeps 1000 by default.
POINTS_PER_SERIES = 1000

#: With ``histogram_every`` null, the per-sample histogram goes with every 10th logged step.
HISTOGRAM_EVERY_LOGS = 10


def cadence(steps: int, log_every: int | None, histogram_every: int | None) -> tuple[int, int]:
    """Steps between logged scalars and between histograms (the last step always gets both)."""
    scalars = log_every if log_every is not None else max(1, math.ceil(steps / POINTS_PER_SERIES))
    return scalars, histogram_every if histogram_every is not None else HISTOGRAM_EVERY_LOGS * scalars


class Survivors:
    """Which replicates are alive: one dies once a coordinate of μ passes ``bound`` in size, its
    gradient is not finite, or its learned σ = exp(s) has underflowed to 0 or overflowed."""

    def __init__(self, theta: Tensor, bound: float, dim: int = 1) -> None:
        self.bound, self.dim = bound, dim
        self.mask = theta.new_ones(theta.shape[:-1], dtype=bool)
        self.total = self.count = theta.shape[0]

    def update(self, theta: Tensor, grad: Tensor) -> None:
        ok = grad.isfinite()
        if theta.shape[-1] == self.dim:  # σ fixed: every parameter is a coordinate of μ
            ok &= theta.abs().le(self.bound)
        else:
            sigma = theta[..., self.dim :].exp()
            ok[..., : self.dim] &= theta[..., : self.dim].abs().le(self.bound)
            ok[..., self.dim :] &= sigma.gt(0) & sigma.isfinite()
        self.mask &= ok.squeeze(-1) if ok.shape[-1] == 1 else ok.all(-1)  # one parameter: a view
        self.count = int(self.mask.sum())  # the one host sync per step

    @property
    def every(self) -> bool:
        return self.count == self.total

    @property
    def none(self) -> bool:
        return self.count == 0


class Recorder:
    """Records each step of a run: into the θ history and the metric tracker, and to TensorBoard."""

    def __init__(
        self,
        writer: SummaryWriter,
        theta: Tensor,
        scalars: StepScalars,
        steps: int,
        log_every: int | None,
        histogram_every: int | None,
        variance_draws: int = 0,
    ) -> None:
        self.writer, self.theta = writer, theta
        self.log_every, self.histogram_every = cadence(steps, log_every, histogram_every)
        self.history = History(theta, variance=scalars.n_samples > 1 or variance_draws > 0)
        self.tracker = MetricTracker(theta, steps, scalars.theta_star, scalars.family.dim)
        self.step_log = StepLog(writer, scalars)
        dim, params = scalars.family.dim, scalars.family.params
        #: The histogram's tags and their columns of the terms: μ's, then the log-scale's if learned.
        self.parts = {"grad/per_sample_terms": slice(0, dim)}
        if params > dim:
            self.parts["scale/per_sample_terms"] = slice(dim, params)

    def logs(self, step: int, final: bool) -> bool:
        """Whether the scalars of ``step`` are logged."""
        return final or step % self.log_every == 0

    def record(
        self,
        step: int,
        estimate: StepEstimate,
        grad: Tensor,
        survivors: Survivors,
        final: bool,
        variance: Tensor | None = None,
    ) -> None:
        """Record θ at ``step`` and the estimate made there; ``final``: the run stops at this step.

        ``grad`` is the update's gradient (the estimate, plus the entropy term's). ``variance``:
        the estimate's variance from extra draws (one-sample runs), instead of the in-step one.
        """
        logged = self.logs(step, final)
        histogram = self.histogram(step, final)
        if survivors.every:
            self.history.add(step, self.theta)
            if logged:
                self.history.log(grad, estimate.in_step_variance() if variance is None else variance)
            if histogram:
                for tag, sample in estimate.histogram_samples(self.parts, None).items():
                    self.step_log.add_histogram(
                        step, histogram_of(sample), tag, hold=bool(self.history.logged)
                    )
            if self.history.full:
                self.flush()
            return
        self.flush()
        self.tracker.update(step, self.theta, survivors.mask)
        if survivors.none:  # nothing left to describe but the count's last point
            log_scalars(self.writer, step, ["theta/diverged"], [float(survivors.total)])
            return
        if logged:
            variance = estimate.in_step_variance() if variance is None else variance
            self.step_log.write_step(step, self.theta, grad, survivors.mask, variance)
        if histogram:
            for tag, sample in estimate.histogram_samples(self.parts, survivors.mask).items():
                self.step_log.add_histogram(step, histogram_of(sample), tag, hold=False)

    def log_values(self, step: int, values: dict[str, Tensor]) -> None:
        """Scalars that are not statistics of θ (a learned control variate's η and τ), written at once."""
        log_scalars(self.writer, step, list(values), [float(v) for v in values.values()])

    def wants(self, step: int, final: bool, survivors: Survivors) -> Wants:
        """What a step made in chunks must keep of its terms for ``record``."""
        return Wants(
            variance=self.logs(step, final),
            parts=self.parts if self.histogram(step, final) else {},
            alive=None if survivors.every else survivors.mask.clone(),
        )

    def histogram(self, step: int, final: bool) -> bool:
        """Whether ``step`` gets the per-sample histogram."""
        return final or step % self.histogram_every == 0

    def flush(self) -> None:
        """Fold the buffered block into the metrics and write its logged steps."""
        self.tracker.fold(self.history)
        self.step_log.write_rows(self.history)
        self.history.clear()
