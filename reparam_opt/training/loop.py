"""One training run: SGD on θ with a Monte Carlo gradient, one independent run per replicate.

``train`` reads as resolve (``run.py``: the config checked and built once), loop, finish
(``outcome.py``). The loop body is the
science: estimate the gradient, mark the replicates that diverged, record the step, stop if the
run is over, take the step. Everything else (what is logged when, the metrics, TensorBoard) sits
behind ``Recorder``. A step too big to hold at once is made a chunk of replicate rows at a time,
with the same numbers (``chunks.py``); a run too big for the memory there is refused before any
work (``resources.py``).

``train`` changes nothing process-wide: it seeds torch inside ``torch.random.fork_rng``, so the
caller's random state is back as it was afterwards, and the thread count and the C heap are the
entry point's business (``reparam_opt.training.runtime``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor

from reparam_opt.training.board import event_file, fitted_layout, log_hparams
from reparam_opt.training.chunks import StepEstimate, Wants, estimate_in_chunks
from reparam_opt.training.loss import draws_per_replicate, loss_stream, replicate_loss
from reparam_opt.training.outcome import finish, hparams
from reparam_opt.training.recorder import Recorder, Survivors
from reparam_opt.training.resources import check_memory
from reparam_opt.training.run import Run, resolve
from reparam_opt.training.runtime import StopRequest, progress_bar, stop_on_signals
from reparam_opt.training.scalars import StepScalars, has_in_step_variance
from reparam_opt.training.summary import write_summary

log = logging.getLogger(__name__)

#: A replicate whose |μ_i| passes this bound is marked diverged (as is one with a non-finite θ or
#: gradient, or a learned σ that under- or overflows).
THETA_BOUND = 1e6


def train(cfg: DictConfig, run_dir: Path, run: Run | None = None) -> dict[str, Any]:
    """Run the job described by ``cfg``, logging into ``run_dir``; return what summary.json holds.

    ``run``: the run ``resolve(cfg)`` built, where the caller has it (train.py resolves before it
    sets the threads); otherwise it is resolved here. A bad value ends the run there, before any
    work, and so does a size too big for the memory.
    """
    run = resolve(cfg) if run is None else run
    check_memory(run.footprint, run.estimator, cfg.device)
    started = time.perf_counter()
    devices = [torch.device(cfg.device).index or 0] if cfg.device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(cfg.seed)
        log.info(
            "%s%s on %s: %d replicates, %d steps, n=%d, lr=%g, %s",
            run.estimator.name,
            f" ({run.estimator.trick})" if run.estimator.trick else "",
            run.objective.name,
            cfg.replicates,
            cfg.steps,
            cfg.n_samples,
            cfg.lr,
            run.family,
        )
        # SIGINT/SIGTERM only set `stop`: the loop ends at a step boundary and saves what it has.
        with stop_on_signals() as stop:
            scalars = StepScalars(
                run.objective,
                run.estimator,
                run.family,
                run.theta_star,
                cfg.n_samples,
                run.sigma_star,
                draws_per_replicate(cfg.replicates, cfg.n_samples),
            )
            variance = has_in_step_variance(run.estimator, cfg.n_samples) or cfg.variance_draws > 0
            layout = fitted_layout(run.family.layout(), written_tags(scalars, run.theta.detach(), variance))
            with event_file(str(run_dir), layout) as writer:
                recorder = Recorder(
                    writer,
                    run.theta.detach(),
                    scalars,
                    cfg.steps,
                    cfg.log_every,
                    cfg.histogram_every,
                    cfg.variance_draws if cfg.n_samples == 1 else 0,
                )
                survivors = Survivors(run.theta, THETA_BOUND, run.family.dim)
                try:
                    status, step = loop(
                        run, recorder, survivors, stop, cfg.steps, cfg.n_samples, cfg.variance_draws, cfg.seed
                    )
                finally:
                    recorder.flush()  # what was logged before an error still reaches the event file
                metrics = recorder.tracker.finish(step, cfg.tolerance, survivors.mask)
                summary = finish(cfg, run, metrics, status, step, stop.name, started, survivors.mask)
                log_hparams(writer, hparams(summary, run), vars(metrics), step)
                writer.flush()  # every event is on disk before summary.json says the run is over
            write_summary(run_dir / "summary.json", summary)  # the events are on disk
    return summary


def loop(
    run: Run,
    recorder: Recorder,
    survivors: Survivors,
    stop: StopRequest,
    steps: int,
    n_samples: int,
    variance_draws: int = 0,
    seed: int = 0,
) -> tuple[str, int]:
    """Steps 0…``steps``: the gradient at θ_t, then θ_{t+1}. Returns the run's status and its last step.

    The estimate is of ∇E_q[f]; the entropy term's gradient is exact and added to it. ``seed``
    seeds the logged loss's own draws (``loss.loss_stream``).
    """
    theta, bounds = run.theta, run.chunk_bounds(n_samples)
    # The entropy term's exact gradient, unless the estimator's terms already hold it.
    entropy_grad = None if run.estimator.includes_entropy else run.family.entropy_grad(theta.detach())
    state: dict = {}  # a stateful estimator's (say, a moving average per replicate), fresh per run
    fixed_q = None if run.family.learned else run.q()
    frozen_by_zero = zero_gradient_freezes(run.optimizer)
    stream, loss_draws = loss_stream(seed, theta.device), draws_per_replicate(theta.shape[0], n_samples)
    with progress_bar(steps, run.estimator.name) as progress:
        for step in range(steps + 1):
            q = run.q() if fixed_q is None else fixed_q
            final = step == steps or bool(stop)  # as known before the estimate
            wants = partial(recorder.wants, step, final, survivors)
            estimate = estimate_step(run, q, n_samples, bounds, state, wants)
            grad = estimate.grad
            if entropy_grad is not None:
                grad = grad + entropy_grad
            survivors.update(theta.detach(), grad)
            status = ending(step, steps, survivors, stop)
            variance = loss = None
            if recorder.logs(step, status is not None):
                if n_samples == 1 and variance_draws:
                    variance = extra_variance(run, q, variance_draws, state)
                loss = replicate_loss(run.family, run.objective, q, loss_draws, stream)
            recorder.record(step, estimate, grad, survivors, status is not None, variance, loss)
            if "logged" in state and recorder.logs(step, status is not None):
                recorder.log_values(step, state["logged"])
            if recorder.all_dead_step is not None:  # a block written just now showed that none was left
                if status != "diverged":
                    log.warning("every replicate diverged by step %d; stopping", recorder.all_dead_step)
                return "diverged", recorder.all_dead_step
            if status is not None:
                return status, step
            sgd_step(run.optimizer, theta, grad, survivors.mask, frozen_by_zero)
            if run.schedule is not None:
                run.schedule.step()
            progress.update()
    raise AssertionError("unreachable: the last step always ends the run")


def estimate_step(
    run: Run,
    q: Any,
    n_samples: int,
    bounds: list[int],
    state: dict,
    wants: Callable[[], Wants],
) -> StepEstimate:
    """The step's estimate of ∇E_q[f] per replicate: whole, or a chunk of rows at a time, keeping
    what the recorder ``wants`` of the terms (the in-step variance, the histogram's subsample)."""
    with run.objective.one_batch():  # a model's minibatch: one per step
        if len(bounds) == 2:
            terms, mean = run.step(run.objective, q, n_samples, state)
            return StepEstimate(run.estimator.variance_of_mean, mean, terms)
        return in_chunks(run, q, n_samples, state, bounds, run.estimator.variance_of_mean, wants())


def in_chunks(
    run: Run,
    q: Any,
    n_samples: int,
    state: dict,
    bounds: list[int],
    variance_of_mean: Callable[[Tensor, Tensor | None], Tensor],
    wants: Wants,
) -> StepEstimate:
    """The run's estimator on ``q`` a chunk of replicate rows at a time (``chunks.estimate_in_chunks``)."""
    return estimate_in_chunks(
        lambda start, stop: run.estimate(run.objective, q.rows(start, stop), n_samples, state=state),
        bounds,
        variance_of_mean,
        wants,
        run.theta.detach(),
        n_samples,
    )


def extra_variance(run: Run, q: Any, draws: int, state: dict) -> Tensor:
    """A one-sample estimator's variance at θ_t, per replicate and parameter, from ``draws`` more
    single-sample terms. They leave the update, the state, the random stream and the f-evaluation
    count alone."""
    frozen = {**state, "frozen": True}
    bounds = run.chunk_bounds(draws)
    device = run.theta.device
    # Their own random stream: the run's draws, and so its θ path, are those it makes without them.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        if len(bounds) == 2:
            return run.estimate(run.objective, q, draws, state=frozen).detach().var(-2)
        per_row_variance = lambda terms, mean: terms.var(-2)  # noqa: E731
        return in_chunks(run, q, draws, frozen, bounds, per_row_variance, Wants(variance=True)).variance


def written_tags(scalars: StepScalars, theta: Tensor, variance: bool) -> set[str]:
    """The tags a run writes: those of its scalars that have a value at the start (a closed form
    exists, an in-step variance is made, the loss is sampled)."""
    zeros = torch.zeros_like(theta)[None]
    loss = theta.new_ones(1, theta.shape[0], 2)
    rows = scalars(
        theta[None], zeros, zeros if variance else None, theta[0, 0][None], theta.new_zeros(1), loss
    )
    return {tag for tag, value in rows.items() if value is not None}


def ending(step: int, steps: int, survivors: Survivors, stop: StopRequest) -> str | None:
    """The run's status if it ends at this step, else None."""
    if survivors.none:
        log.warning("every replicate diverged by step %d; stopping", step)
        return "diverged"
    if step == steps:
        return "completed"
    if stop:
        log.warning("%s received: stopping at step %d", stop.name, step)
        return "interrupted"
    return None


def sgd_step(
    optimizer: torch.optim.Optimizer, theta: Tensor, grad: Tensor, alive: Tensor, frozen_by_zero: bool = False
) -> None:
    """One optimizer update in which the diverged replicates (``alive`` false) stay where they were.

    The mask stays on the device, so no step waits for the host. A live replicate's update is
    the unmasked one exactly. ``frozen_by_zero``: a zero gradient leaves θ as it is (plain SGD),
    so masking the gradient is enough; any other optimizer has its update undone for them.
    """
    alive = alive.unsqueeze(-1)
    theta.grad = torch.where(alive, grad, 0.0)
    if frozen_by_zero:
        optimizer.step()
        return
    before = theta.detach().clone()
    optimizer.step()
    with torch.no_grad():
        theta.copy_(torch.where(alive, theta, before))


def zero_gradient_freezes(optimizer: torch.optim.Optimizer) -> bool:
    """Plain SGD (no momentum, no weight decay): a zero gradient moves nothing."""
    return isinstance(optimizer, torch.optim.SGD) and all(
        group["momentum"] == 0 and group["weight_decay"] == 0 for group in optimizer.param_groups
    )
