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
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from reparam_opt import separable
from reparam_opt.bernoulli import BernoulliFamily, BernoulliQ
from reparam_opt.board import hparams_of, log_hparams, open_writer
from reparam_opt.config import estimator_of
from reparam_opt.estimators import Estimator
from reparam_opt.gaussian import Gaussian, GaussianFamily
from reparam_opt.metrics import RunMetrics, final_loss, final_sigma
from reparam_opt.objectives import Objective, Optimum, ShiftedSquare
from reparam_opt.recorder import Recorder, Survivors
from reparam_opt.runtime import StopRequest, progress_bar, stop_on_signals
from reparam_opt.scalars import StepScalars
from reparam_opt.summary import write_summary
from reparam_opt.validation import check_train_config

log = logging.getLogger(__name__)

#: A replicate whose |μ_i| passes this bound is marked diverged (as is one with a non-finite θ or
#: gradient, or a learned σ that under- or overflows).
THETA_BOUND = 1e6


@dataclass
class Run:
    """What a run is made of, built from its config."""

    objective: Objective
    optimum: Optimum | None
    estimator: Estimator
    #: The estimator with its options from the config (say, ``tau``) bound: ``instantiate``'s partial.
    estimate: Callable[..., Tensor]
    family: GaussianFamily | BernoulliFamily
    #: The parameter rows (μ, s), [replicates, P]: what the optimizer updates.
    theta: Tensor
    optimizer: torch.optim.Optimizer
    #: σ as a tensor, for a fixed scale.
    fixed_scale: Tensor

    @property
    def theta_star(self) -> float | None:
        return None if self.optimum is None else self.optimum.theta

    @property
    def sigma_star(self) -> float | None:
        return self.family.sigma_star(isinstance(self.objective, ShiftedSquare))

    def q(self) -> Gaussian | BernoulliQ:
        """q at the current parameters (θ changes in place, so its views are current)."""
        return self.family.q(self.theta.detach(), self.fixed_scale)


def family_of(cfg: DictConfig) -> GaussianFamily | BernoulliFamily:
    if cfg.family.name == "bernoulli":
        return BernoulliFamily()
    return GaussianFamily(int(cfg.dim), str(cfg.scale), float(cfg.entropy_weight), float(cfg.sigma))


def setup(cfg: DictConfig) -> Run:
    """Build the objective, the estimator, θ (one row per replicate), its optimizer and q's fixed σ."""
    device = torch.device(cfg.device)
    objective: Objective = instantiate(cfg.objective)
    family = family_of(cfg)
    theta = family.initial(cfg.replicates, cfg.theta0, device)
    optimizer: torch.optim.Optimizer = instantiate(cfg.optimizer)([theta])
    return Run(
        objective,
        objective.optimum(cfg.theta0, cfg.sigma),
        estimator_of(cfg.estimator),
        instantiate(cfg.estimator),
        family,
        theta,
        optimizer,
        torch.tensor(float(cfg.sigma), device=device),
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
            "%s on %s: %d replicates, %d steps, n=%d, lr=%g, family=%s, D=%d, scale=%s",
            run.estimator.name,
            run.objective.name,
            cfg.replicates,
            cfg.steps,
            cfg.n_samples,
            cfg.lr,
            run.family.name,
            run.family.dim,
            run.family.scale,
        )
        # SIGINT/SIGTERM only set `stop`: the loop ends at a step boundary and saves what it has.
        with stop_on_signals() as stop, closing(open_writer(str(run_dir), run.family.learned)) as writer:
            scalars = StepScalars(
                run.objective, run.estimator, run.family, run.theta_star, cfg.n_samples, run.sigma_star
            )
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
                    run, recorder, survivors, stop, cfg.steps, cfg.n_samples, cfg.variance_draws
                )
            finally:
                recorder.flush()  # what was logged before an error still reaches the event file
            metrics = recorder.tracker.finish(step, cfg.tolerance, survivors.mask)
            summary = finish(cfg, run, metrics, status, step, stop.name, started, survivors.mask)
            log_hparams(writer, hparams(summary, run), vars(metrics), step)
            writer.flush()  # every event is on disk before summary.json says the run is over
            write_summary(run_dir / "summary.json", summary)
    return summary


def loop(
    run: Run,
    recorder: Recorder,
    survivors: Survivors,
    stop: StopRequest,
    steps: int,
    n_samples: int,
    variance_draws: int = 0,
) -> tuple[str, int]:
    """Steps 0…``steps``: the gradient at θ_t, then θ_{t+1}. Returns the run's status and its last step.

    The estimate is of ∇E_q[f]; the entropy term's gradient is exact and added to it.
    """
    theta, estimator, objective = run.theta, run.estimate, run.objective
    entropy_grad = run.family.entropy_grad(theta.detach())
    state: dict = {}  # a stateful estimator's (say, a moving average per replicate), fresh per run
    fixed_q = None if run.family.learned else run.q()
    with progress_bar(steps, run.estimator.name) as progress:
        for step in range(steps + 1):
            q = run.q() if fixed_q is None else fixed_q
            terms = estimator(objective, q, n_samples, state=state)
            grad = terms.mean(-2)
            if entropy_grad is not None:
                grad = grad + entropy_grad
            survivors.update(theta.detach(), grad)
            status = ending(step, steps, survivors, stop)
            variance = None
            if n_samples == 1 and variance_draws and recorder.logs(step, status is not None):
                variance = extra_variance(run, q, variance_draws, state)
            recorder.record(step, terms, grad, survivors, final=status is not None, variance=variance)
            if "logged" in state and recorder.logs(step, status is not None):
                recorder.log_values(step, state["logged"])
            if status is not None:
                return status, step
            sgd_step(run.optimizer, theta, grad, None if survivors.every else survivors.mask)
            progress.update()
    raise AssertionError("unreachable: the last step always ends the run")


def extra_variance(run: Run, q: Gaussian | BernoulliQ, draws: int, state: dict) -> Tensor:
    """A one-sample estimator's variance at θ_t, per replicate and parameter, from ``draws`` more
    single-sample terms. They leave the update, the state and the f-evaluation count alone."""
    return run.estimate(run.objective, q, draws, state={**state, "frozen": True}).detach().var(-2)


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
    alive = alive.unsqueeze(-1)
    before = theta.detach().clone()
    theta.grad = torch.where(alive, grad, 0.0)
    optimizer.step()
    with torch.no_grad():  # a diverged replicate stays frozen where it was
        theta.copy_(torch.where(alive, theta, before))


def finish(
    cfg: DictConfig,
    run: Run,
    metrics: RunMetrics,
    status: str,
    step: int,
    signal: str | None,
    started: float,
    alive: Tensor,
) -> dict[str, Any]:
    """What summary.json holds: how the run ended, its metrics, its optimum, its cost and its config."""
    family = run.family
    return {
        "status": status,
        "step": step,
        "signal": signal,
        **vars(metrics),
        "theta_star": run.theta_star,
        "objective_star": objective_star(run),
        **(final_sigma(family.sigma_of(run.theta.detach())[alive], run.sigma_star) if family.learned else {}),
        **(
            final_loss(run.objective, run.theta.detach()[alive][..., 0]) if family.name == "bernoulli" else {}
        ),
        "f_evals_per_step": run.estimator.f_evals_per_step(cfg.n_samples, family.dim, family.learned),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "threads": torch.get_num_threads(),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }


def objective_star(run: Run) -> float | None:
    """J_λ at (μ*, σ*) where both have closed forms; in one dimension, σ fixed, the objective's own J*."""
    family, optimum = run.family, run.optimum
    if optimum is None or optimum.value is None:
        return None
    if family.dim == 1 and not family.learned and family.entropy_weight == 0:
        return optimum.value
    sigma = run.sigma_star
    if sigma is None:
        return None
    mu = torch.full((family.dim,), optimum.theta, dtype=torch.float64)
    value = float(separable.value(run.objective, mu, sigma))
    return value - family.entropy_weight * family.entropy(sigma)


def hparams(summary: dict[str, Any], run: Run) -> dict[str, Any]:
    """The HParams entry: estimator, objective and optimizer by short name, the config's values, the cost."""
    names = {
        "estimator": run.estimator.name,
        "objective": run.objective.name,
        "optimizer": type(run.optimizer).__name__.lower(),
    }
    return {**hparams_of(summary["config"], names), "f_evals_per_step": summary["f_evals_per_step"]}
