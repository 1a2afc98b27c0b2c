"""What a finished run reports: summary.json's contents and the HParams entry.

``finish`` gathers how the run ended, its metrics, its optimum (J_λ at (μ*, σ*) where it has a
closed form, from the family), what the family adds, its cost in f-evaluations and its config;
``hparams`` turns that into TensorBoard's HParams row.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from reparam_opt.training.board import hparams_of
from reparam_opt.training.metrics import RunMetrics
from reparam_opt.training.run import Run


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
        "theta_star": theta_star(run),
        "objective_star": family.objective_star(run.objective, cfg.theta0),
        **family.final_metrics(run.objective, run.theta.detach()[alive], run.sigma_star),
        "f_evals_per_step": run.estimator.f_evals_per_step(cfg.n_samples, family.dim, family.learned),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "threads": torch.get_num_threads(),
        **slurm_job(),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }


def slurm_job() -> dict[str, str]:
    """Inside a Slurm job: its ID and the CPUs it was given (which set ``threads``), else nothing."""
    if "SLURM_JOB_ID" not in os.environ:
        return {}
    return {
        "slurm_job_id": os.environ["SLURM_JOB_ID"],
        "slurm_cpus_per_task": os.environ.get("SLURM_CPUS_PER_TASK", ""),
    }


def theta_star(run: Run) -> float | list[float] | None:
    """θ* as summary.json gives it: one number where every coordinate has the same (every cost so
    far), else one per coordinate; None without one."""
    if run.optimum is None:
        return None
    theta = run.optimum.theta
    if isinstance(theta, (int, float)):
        return theta
    values = theta.tolist()
    return values[0] if len(set(values)) == 1 else values


def hparams(summary: dict[str, Any], run: Run) -> dict[str, Any]:
    """The HParams entry: estimator, objective and optimizer by short name, the config's values, the cost."""
    names = {
        "estimator": run.estimator.name,
        "objective": run.objective.name,
        "optimizer": type(run.optimizer).__name__.lower(),
    }
    return {**hparams_of(summary["config"], names), "f_evals_per_step": summary["f_evals_per_step"]}
