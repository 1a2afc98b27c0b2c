"""The training loop: SGD on θ with a Monte Carlo gradient, one independent run per replicate.

The loop is kept lean because the work per step is tiny: the Normal over θ is built once (θ is
updated in place, so its view stays current), the divergence bookkeeping takes a fast path
while every replicate is alive, and TensorBoard gets one event per logged step at a cadence of
about 1000 points per run (see ``cadence``).
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torch.distributions import Normal

from reparam_opt.board import histogram_of, log_hparams, open_writer
from reparam_opt.estimators import f_evals_per_step, name_of
from reparam_opt.interruption import stop_on_signals
from reparam_opt.metrics import MetricTracker
from reparam_opt.objectives import Objective
from reparam_opt.progress import progress_bar
from reparam_opt.runtime import keep_freed_memory, threads_per_job
from reparam_opt.step_log import StepLog, step_scalars  # noqa: F401  (step_scalars: public here too)
from reparam_opt.summary import flatten, write_summary
from reparam_opt.validation import check_train_config

log = logging.getLogger(__name__)

#: A replicate whose |θ| passes this bound is marked diverged (as is one with a non-finite θ or gradient).
THETA_BOUND = 1e6

#: Logged points per scalar series when ``log_every`` is null: TensorBoard keeps 1000 by default.
POINTS_PER_SERIES = 1000

#: With ``histogram_every`` null, the per-sample histogram goes with every 10th logged step.
HISTOGRAM_EVERY_LOGS = 10


def cadence(steps: int, log_every: int | None, histogram_every: int | None) -> tuple[int, int]:
    """Steps between logged scalars and between histograms (the last step always gets both)."""
    scalars = log_every if log_every is not None else max(1, math.ceil(steps / POINTS_PER_SERIES))
    return scalars, histogram_every if histogram_every is not None else HISTOGRAM_EVERY_LOGS * scalars


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run the job described by ``cfg``, logging into ``run_dir``; return what summary.json holds."""
    check_train_config(cfg)  # a bad value ends the run here, before any work
    started = time.perf_counter()
    device = torch.device(cfg.device)
    threads = threads_per_job(cfg.threads)
    if threads is not None:
        torch.set_num_threads(threads)
    keep_freed_memory()  # the step's temporaries are reused, not page-faulted in anew each step
    torch.manual_seed(cfg.seed)
    objective: Objective = instantiate(cfg.objective)  # already validated by check_train_config
    optimum = objective.optimum(cfg.theta0, cfg.sigma)
    theta_star = None if optimum is None else optimum.theta
    estimator = instantiate(cfg.estimator)
    estimator_name = name_of(estimator)
    theta = torch.full((cfg.replicates,), float(cfg.theta0), device=device, requires_grad=True)
    optimizer: torch.optim.Optimizer = instantiate(cfg.optimizer)([theta])
    # θ changes in place, so this Normal over its detached view is current at every step.
    dist = Normal(theta.detach(), torch.tensor(float(cfg.sigma), device=device), validate_args=False)
    alive = torch.ones_like(theta, dtype=torch.bool)
    tracker = MetricTracker(theta, cfg.steps, theta_star)
    log_every, histogram_every = cadence(cfg.steps, cfg.log_every, cfg.histogram_every)
    log.info("%s on %s: %d replicates, %d steps, n=%d, lr=%g", estimator_name, type(objective).__name__,
             cfg.replicates, cfg.steps, cfg.n_samples, cfg.lr)

    steps, replicates, n_samples, sigma = cfg.steps, cfg.replicates, cfg.n_samples, cfg.sigma  # read once
    status, step = "completed", 0
    # SIGINT/SIGTERM only set `stop`: the loop ends at a step boundary and saves what it has.
    with stop_on_signals() as stop, closing(open_writer(str(run_dir))) as writer:
        step_log = StepLog(writer, objective, estimator_name, sigma, theta_star, theta.detach(), n_samples)
        try:
            with progress_bar(steps, estimator_name) as progress:
                for step in range(steps + 1):
                    terms = estimator(objective, dist, n_samples)
                    grad = terms.mean(-1)
                    alive &= theta.detach().abs().le(THETA_BOUND) & grad.isfinite()
                    live = int(alive.sum())  # the one host sync per step
                    tracker.update(step, theta, alive, every_alive=live == replicates)
                    if live == 0:
                        status = "diverged"
                        step_log.flush()
                        writer.add_scalar("theta/diverged", float(replicates), step)  # the count's last point
                        log.warning("every replicate diverged by step %d; stopping", step)
                        break
                    last = step == steps
                    stopping = bool(stop)  # read once: the step the loop stops at is also logged
                    if step % log_every == 0 or last or stopping:
                        step_log.add(step, theta.detach(), terms, grad, alive, every_alive=live == replicates)
                    if step % histogram_every == 0 or last or stopping:
                        step_log.add_histogram(step, histogram_of(terms if live == replicates else terms[alive]))
                    if last:
                        break
                    if stopping:
                        status = "interrupted"
                        log.warning("%s received: stopping at step %d", stop.name, step)
                        break
                    sgd_step(optimizer, theta, grad, None if live == replicates else alive)
                    progress.update()
        finally:
            step_log.flush()  # what was logged before an error still reaches the event file
        metrics = tracker.finish(step, cfg.tolerance, alive)
        summary = {
            "status": status,
            "step": step,
            "signal": stop.name,
            **vars(metrics),
            "theta_star": theta_star,
            "objective_star": None if optimum is None else optimum.value,
            "f_evals_per_step": f_evals_per_step(estimator, cfg.n_samples),
            "wall_seconds": round(time.perf_counter() - started, 3),
            "threads": torch.get_num_threads(),
            "config": OmegaConf.to_container(cfg, resolve=True),
        }
        hparams = {**flatten(summary["config"]), "f_evals_per_step": summary["f_evals_per_step"]}
        log_hparams(writer, hparams, vars(metrics), step)
        writer.flush()  # every event is on disk before summary.json says the run is over
        write_summary(run_dir / "summary.json", summary)
    return summary


def sgd_step(optimizer: torch.optim.Optimizer, theta: Tensor, grad: Tensor, alive: Tensor | None) -> None:
    """One optimizer update; with some replicates diverged (``alive`` given) those stay frozen."""
    if alive is None:
        theta.grad = grad
        optimizer.step()
        return
    before = theta.detach().clone()
    theta.grad = torch.where(alive, grad, 0.0)
    optimizer.step()
    with torch.no_grad():  # a diverged replicate stays frozen where it was
        theta.copy_(torch.where(alive, theta, before))
