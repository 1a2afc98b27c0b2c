"""One training run: SGD on θ with a Monte Carlo gradient, one independent run per replicate.

``train`` reads as setup, loop, finish. The loop body is the science: estimate the gradient,
mark the replicates that diverged, record the step, stop if the run is over, take the step.
Everything else (what is logged when, the metrics, TensorBoard) sits behind ``Recorder``.

``train`` changes nothing process-wide: it seeds torch inside ``torch.random.fork_rng``, so the
caller's random state is back as it was afterwards, and the thread count and the C heap are the
entry point's business (``reparam_opt.runtime``).
"""

from __future__ import annotations

import logging
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torch.distributions import Normal

from reparam_opt.board import StepScalars, hparams_of, log_hparams, open_writer
from reparam_opt.config import estimator_of
from reparam_opt.estimators import Estimator
from reparam_opt.metrics import RunMetrics
from reparam_opt.objectives import Objective, Optimum
from reparam_opt.recorder import Recorder, Survivors
from reparam_opt.runtime import StopRequest, progress_bar, stop_on_signals
from reparam_opt.summary import write_summary
from reparam_opt.validation import check_train_config

log = logging.getLogger(__name__)

#: A replicate whose |θ| passes this bound is marked diverged (as is one with a non-finite θ or gradient).
THETA_BOUND = 1e6


@dataclass
class Run:
    """What a run is made of, built from its config."""

    objective: Objective
    optimum: Optimum | None
    estimator: Estimator
    theta: Tensor
    optimizer: torch.optim.Optimizer
    dist: Normal

    @property
    def theta_star(self) -> float | None:
        return None if self.optimum is None else self.optimum.theta


def setup(cfg: DictConfig) -> Run:
    """Build the objective, the estimator, θ (one entry per replicate), its optimizer and q_θ."""
    device = torch.device(cfg.device)
    objective: Objective = instantiate(cfg.objective)
    theta = torch.full((cfg.replicates,), float(cfg.theta0), device=device, requires_grad=True)
    optimizer: torch.optim.Optimizer = instantiate(cfg.optimizer)([theta])
    # θ changes in place, so this Normal over its detached view is current at every step.
    dist = Normal(theta.detach(), torch.tensor(float(cfg.sigma), device=device), validate_args=False)
    return Run(
        objective,
        objective.optimum(cfg.theta0, cfg.sigma),
        estimator_of(cfg.estimator),
        theta,
        optimizer,
        dist,
    )


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run the job described by ``cfg``, logging into ``run_dir``; return what summary.json holds."""
    check_train_config(cfg)  # a bad value ends the run here, before any work
    started = time.perf_counter()
    devices = [torch.device(cfg.device).index or 0] if cfg.device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(cfg.seed)
        run = setup(cfg)
        log.info(
            "%s on %s: %d replicates, %d steps, n=%d, lr=%g",
            run.estimator.name,
            run.objective.name,
            cfg.replicates,
            cfg.steps,
            cfg.n_samples,
            cfg.lr,
        )
        # SIGINT/SIGTERM only set `stop`: the loop ends at a step boundary and saves what it has.
        with stop_on_signals() as stop, closing(open_writer(str(run_dir))) as writer:
            scalars = StepScalars(run.objective, run.estimator, cfg.sigma, run.theta_star, cfg.n_samples)
            recorder = Recorder(
                writer, run.theta.detach(), scalars, cfg.steps, cfg.log_every, cfg.histogram_every
            )
            survivors = Survivors(run.theta, THETA_BOUND)
            try:
                status, step = loop(run, recorder, survivors, stop, cfg.steps, cfg.n_samples)
            finally:
                recorder.flush()  # what was logged before an error still reaches the event file
            metrics = recorder.tracker.finish(step, cfg.tolerance, survivors.mask)
            summary = finish(cfg, run, metrics, status, step, stop.name, started)
            log_hparams(writer, hparams(summary, run), vars(metrics), step)
            writer.flush()  # every event is on disk before summary.json says the run is over
            write_summary(run_dir / "summary.json", summary)
    return summary


def loop(
    run: Run, recorder: Recorder, survivors: Survivors, stop: StopRequest, steps: int, n_samples: int
) -> tuple[str, int]:
    """Steps 0…``steps``: the gradient at θ_t, then θ_{t+1}. Returns the run's status and its last step."""
    theta, dist, estimator, objective = run.theta, run.dist, run.estimator, run.objective
    with progress_bar(steps, estimator.name) as progress:
        for step in range(steps + 1):
            terms = estimator(objective, dist, n_samples)
            grad = terms.mean(-1)
            survivors.update(theta.detach(), grad)
            status = ending(step, steps, survivors, stop)
            recorder.record(step, terms, grad, survivors, final=status is not None)
            if status is not None:
                return status, step
            sgd_step(run.optimizer, theta, grad, None if survivors.every else survivors.mask)
            progress.update()
    raise AssertionError("unreachable: the last step always ends the run")


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


def finish(
    cfg: DictConfig, run: Run, metrics: RunMetrics, status: str, step: int, signal: str | None, started: float
) -> dict[str, Any]:
    """What summary.json holds: how the run ended, its metrics, its optimum, its cost and its config."""
    return {
        "status": status,
        "step": step,
        "signal": signal,
        **vars(metrics),
        "theta_star": run.theta_star,
        "objective_star": None if run.optimum is None else run.optimum.value,
        "f_evals_per_step": run.estimator.f_evals_per_step(cfg.n_samples),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "threads": torch.get_num_threads(),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }


def hparams(summary: dict[str, Any], run: Run) -> dict[str, Any]:
    """The HParams entry: estimator, objective and optimizer by short name, the config's values, the cost."""
    names = {
        "estimator": run.estimator.name,
        "objective": run.objective.name,
        "optimizer": type(run.optimizer).__name__.lower(),
    }
    return {**hparams_of(summary["config"], names), "f_evals_per_step": summary["f_evals_per_step"]}
