"""What a run records at each step, and when: θ for the metrics; scalars and histograms for TensorBoard.

Scalars go to TensorBoard at a cadence of about ``POINTS_PER_SERIES`` points per run (see
``cadence``); the per-sample histogram every ``HISTOGRAM_EVERY_LOGS``-th logged step. The last
step, and the step an interrupted run stops at, get both. While no replicate is known to have
diverged, a step only copies θ and the live mask (and, when logged, the estimate and its in-step
variance) into the run's ``History``, and nothing is read back to the host; its statistics are
computed a block at a time, a step after a divergence with its own mask. Once the host has seen a
divergence, each step is written at once.
"""

from __future__ import annotations

import math

from torch import Tensor
from torch.utils.tensorboard import SummaryWriter

from reparam_opt.training.board import StepLog, histogram_of, log_scalars
from reparam_opt.training.chunks import StepEstimate, Wants
from reparam_opt.training.metrics import History, MetricTracker
from reparam_opt.training.scalars import StepScalars, has_in_step_variance

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
    gradient is not finite, or its learned σ = exp(s) has underflowed to 0 or overflowed.

    The mask lives on θ's device. The host counts it only when asked (``check``): the recorder asks
    at a histogram step, at the run's end and when it writes a block of steps. Once a replicate has
    diverged it counts at every step (``counting``), where each step is written at once.
    """

    def __init__(self, theta: Tensor, bound: float, dim: int = 1) -> None:
        self.bound, self.dim = bound, dim
        self.mask = theta.new_ones(theta.shape[:-1], dtype=bool)
        self.total = self.count = theta.shape[0]
        #: The host counts the live replicates at every step: one has diverged.
        self.counting = False

    def update(self, theta: Tensor, grad: Tensor) -> None:
        ok = grad.isfinite()
        if theta.shape[-1] == self.dim:  # σ fixed: every parameter is a coordinate of μ
            ok &= theta.abs().le(self.bound)
        else:
            sigma = theta[..., self.dim :].exp()
            ok[..., : self.dim] &= theta[..., : self.dim].abs().le(self.bound)
            ok[..., self.dim :] &= sigma.gt(0) & sigma.isfinite()
        self.mask &= ok.squeeze(-1) if ok.shape[-1] == 1 else ok.all(-1)  # one parameter: a view
        if self.counting:
            self.count = int(self.mask.sum())  # a host sync, once a replicate has diverged

    def check(self) -> None:
        """Count the live replicates now (a host sync); from the first divergence on, at every step."""
        self.count = int(self.mask.sum())
        self.counting = self.count < self.total

    @property
    def every(self) -> bool:
        """Every replicate alive, as the host last counted."""
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
        in_step = has_in_step_variance(scalars.estimator, scalars.n_samples)
        self.history = History(theta, variance=in_step or variance_draws > 0)
        self.tracker = MetricTracker(theta, steps, scalars.theta_star, scalars.family.dim)
        self.step_log = StepLog(writer, scalars)
        dim, params = scalars.family.dim, scalars.family.params
        #: The histogram's tags and their columns of the terms: μ's, then the log-scale's if learned.
        self.parts = {"grad/per_sample_terms": slice(0, dim)}
        if params > dim:
            self.parts["scale/per_sample_terms"] = slice(dim, params)
        #: The step at which no replicate was left, once a written block shows it: the run ends there.
        self.all_dead_step: int | None = None
        #: ``log_values``'s scalars waiting for their block.
        self.values: list[tuple[int, dict[str, Tensor]]] = []

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
        loss: Tensor | None = None,
    ) -> None:
        """Record θ at ``step`` and the estimate made there; ``final``: the run stops at this step.

        ``grad`` is the update's gradient (the estimate, plus the entropy term's). ``variance``:
        the estimate's variance from extra draws (one-sample runs), instead of the in-step one.
        ``loss``: the sampled loss per replicate at a logged step (``loss.replicate_loss``).
        While no replicate is known to have diverged, a step is buffered with the live mask of its
        time and nothing is read back to the host; ``flush`` writes the block.
        """
        logged, histogram = self.logs(step, final), self.histogram(step, final)
        if not survivors.counting and (histogram or final):
            self.check(survivors)  # a histogram is of the live replicates; the end needs their count
        if self.all_dead_step is not None:
            return
        if not survivors.counting:
            self.history.add(step, self.theta, survivors.mask)
            if logged:
                self.history.log(grad, estimate.in_step_variance() if variance is None else variance, loss)
            if histogram:
                for tag, sample in estimate.histogram_samples(self.parts, None).items():
                    self.step_log.add_histogram(
                        step, histogram_of(sample), tag, hold=bool(self.history.logged)
                    )
            if self.history.full:
                self.flush(survivors)
            return
        self.flush(survivors)
        if logged and variance is None:
            variance = estimate.in_step_variance()
        self.at_once(
            step, self.theta, survivors.mask, survivors.count, grad if logged else None, variance, loss
        )
        if histogram and survivors.count:
            for tag, sample in estimate.histogram_samples(self.parts, survivors.mask).items():
                self.step_log.add_histogram(step, histogram_of(sample), tag, hold=False)

    def at_once(
        self,
        step: int,
        theta: Tensor,
        alive: Tensor,
        live: int,
        grad: Tensor | None,
        variance: Tensor | None,
        loss: Tensor | None = None,
    ) -> None:
        """A step with diverged replicates, written at once: into the tracker, and its scalars if
        logged (``grad`` given); with none left, the count's last point, and the run ends here."""
        self.tracker.update(step, theta, alive)
        if live == 0:
            log_scalars(self.writer, step, ["theta/diverged"], [float(len(alive))])
            self.all_dead_step = step
        elif grad is not None:
            self.step_log.write_step(step, theta, grad, alive, variance, loss)

    def check(self, survivors: Survivors) -> None:
        """Count the live replicates; if some diverged since the last count, write the buffered steps."""
        survivors.check()
        if survivors.counting:
            self.flush(survivors)

    def wants(self, step: int, final: bool, survivors: Survivors) -> Wants:
        """What a step made in chunks must keep of its terms for ``record``."""
        histogram = self.histogram(step, final)
        if histogram and not survivors.counting:
            self.check(survivors)  # the histogram strides over the replicates alive before the step
        return Wants(
            variance=self.logs(step, final),
            parts=self.parts if histogram else {},
            alive=None if survivors.every else survivors.mask.clone(),
        )

    def log_values(self, step: int, values: dict[str, Tensor]) -> None:
        """Scalars that are not statistics of θ (a learned control variate's η and τ): written with
        their step's block, or at once when no block is buffered."""
        self.values.append((step, {tag: value.detach().clone() for tag, value in values.items()}))
        if self.history.rows == 0:
            self.write_values()

    def write_values(self) -> None:
        """``log_values``'s scalars, up to the step where no replicate was left."""
        last = self.all_dead_step
        for step, values in self.values:
            if last is None or step <= last:
                log_scalars(self.writer, step, list(values), [float(v) for v in values.values()])
        self.values.clear()

    def flush(self, survivors: Survivors | None = None) -> None:
        """Write the buffered block: the steps before the first divergence together, and each later
        one at once with its own live mask, up to the step where none was left. One host copy of
        the block's live counts says which is which."""
        history = self.history
        counts = history.live_counts() if history.rows else []
        first = next((row for row, count in enumerate(counts) if count < len(self.theta)), len(counts))
        slots, first_step = {row: slot for slot, row in enumerate(history.logged)}, history.first_step
        history.truncate(first)
        self.tracker.fold(history)
        self.step_log.write_rows(history)
        for row in range(first, len(counts)):
            slot = slots.get(row)
            variance = None if slot is None or history.variance is None else history.variance[slot]
            grad = None if slot is None else history.grad[slot]
            loss = None if slot is None else history.loss[slot]
            self.at_once(
                first_step + row, history.theta[row], history.alive[row], counts[row], grad, variance, loss
            )
            if self.all_dead_step is not None:
                break
        history.clear()
        self.write_values()
        if first < len(counts) and survivors is not None and not survivors.counting:
            survivors.check()

    def histogram(self, step: int, final: bool) -> bool:
        """Whether ``step`` gets the per-sample histogram."""
        return final or step % self.histogram_every == 0
