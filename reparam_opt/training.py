"""The training loop: SGD on θ with a Monte Carlo gradient, one independent run per replicate."""

from __future__ import annotations

import logging
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torch.distributions import Normal

from reparam_opt.board import log_hparams, log_step, open_writer
from reparam_opt.estimators import f_evals_per_step, name_of, variance_of_mean
from reparam_opt.interruption import stop_on_signals
from reparam_opt.metrics import MetricTracker, across_replicates
from reparam_opt.objectives import Objective
from reparam_opt.summary import flatten, write_summary
from reparam_opt.validation import check_train_config

log = logging.getLogger(__name__)

#: A replicate whose |θ| passes this bound is marked diverged (as is one with a non-finite θ or gradient).
THETA_BOUND = 1e6


def step_scalars(
    theta: Tensor, terms: Tensor, alive: Tensor, objective: Objective, estimator: str, sigma: float,
    theta_star: float | None = None,
) -> dict[str, Tensor | None]:
    """The TensorBoard scalars for θ_t and the gradient computed at θ_t, over live replicates."""
    live_theta, live_terms = theta[alive], terms[alive]
    n = terms.shape[-1]
    value = objective.value(live_theta, sigma)
    exact = objective.grad(live_theta, sigma)
    analytic = objective.grad_variance(estimator, live_theta, sigma, n_samples=n)
    return {
        "theta/replicate0": theta[0] if alive[0] else None,  # a diverged θ is never plotted
        "theta/diverged": (~alive).sum(),
        **across_replicates(live_theta, theta_star),
        "objective/mean": None if value is None else value.mean(),
        "grad/mean": live_terms.mean(-1).mean(),
        "grad/exact": None if exact is None else exact.mean(),
        # A variance needs two terms: with n_samples=1 there is no in-step estimate.
        "grad/variance": variance_of_mean(estimator, live_terms).mean() if n > 1 else None,
        "grad/variance_analytic": None if analytic is None else (analytic / n).mean(),
    }


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run the job described by ``cfg``, logging into ``run_dir``; return what summary.json holds."""
    check_train_config(cfg)  # a bad value ends the run here, before any work
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    objective: Objective = instantiate(cfg.objective)
    objective.validate()
    optimum = objective.optimum(cfg.theta0, cfg.sigma)
    theta_star = None if optimum is None else optimum.theta
    estimator = instantiate(cfg.estimator)
    estimator_name = name_of(estimator)
    theta = torch.full((cfg.replicates,), float(cfg.theta0), device=device, requires_grad=True)
    optimizer: torch.optim.Optimizer = instantiate(cfg.optimizer)([theta])
    alive = torch.ones_like(theta, dtype=torch.bool)
    tracker = MetricTracker(theta, cfg.steps, theta_star)
    log.info("%s on %s: %d replicates, %d steps, n=%d, lr=%g", estimator_name, type(objective).__name__,
             cfg.replicates, cfg.steps, cfg.n_samples, cfg.lr)

    status, step = "completed", 0
    # SIGINT/SIGTERM only set `stop`: the loop ends at a step boundary and saves what it has.
    with stop_on_signals() as stop, closing(open_writer(str(run_dir))) as writer:
        for step in range(cfg.steps + 1):
            terms = estimator(objective, Normal(theta.detach(), cfg.sigma), cfg.n_samples)
            grad = terms.mean(-1)
            alive &= theta.detach().abs().le(THETA_BOUND) & grad.isfinite()
            tracker.update(step, theta, alive)
            if not alive.any():
                status = "diverged"
                writer.add_scalar("theta/diverged", float((~alive).sum()), step)  # the count's last point
                log.warning("every replicate diverged by step %d; stopping", step)
                break
            stopping = bool(stop)  # read once: the step the loop stops at is also logged
            if step % cfg.log_every == 0 or step == cfg.steps or stopping:
                scalars = step_scalars(theta.detach(), terms, alive, objective, estimator_name, cfg.sigma,
                                       theta_star)
                log_step(writer, step, scalars, terms[alive])
            if step == cfg.steps:
                break
            if stopping:
                status = "interrupted"
                log.warning("%s received: stopping at step %d", stop.name, step)
                break
            before = theta.detach().clone()
            theta.grad = torch.where(alive, grad, 0.0)
            optimizer.step()
            with torch.no_grad():  # a diverged replicate stays frozen where it was
                theta.copy_(torch.where(alive, theta, before))
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
            "config": OmegaConf.to_container(cfg, resolve=True),
        }
        hparams = {**flatten(summary["config"]), "f_evals_per_step": summary["f_evals_per_step"]}
        log_hparams(writer, hparams, vars(metrics), step)
        writer.flush()  # every event is on disk before summary.json says the run is over
        write_summary(run_dir / "summary.json", summary)
    return summary
