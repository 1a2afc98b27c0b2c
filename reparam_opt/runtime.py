"""Per-job runtime settings that depend on how the job was launched: torch threads."""

from __future__ import annotations

import os

from hydra.core.hydra_config import HydraConfig


def threads_per_job(requested: int | None) -> int | None:
    """Torch threads for this job, so parallel jobs do not oversubscribe the cores.

    ``requested`` (the ``threads`` key) wins. Otherwise a joblib multirun job gets
    cores // n_jobs, a Slurm job its ``SLURM_CPUS_PER_TASK``, and anything else torch's default (None).
    """
    if requested is not None:
        return requested
    if HydraConfig.initialized():
        n_jobs = HydraConfig.get().launcher.get("n_jobs")
        if isinstance(n_jobs, int) and n_jobs != 0:
            cores = os.cpu_count() or 1
            parallel = cores if n_jobs < 0 else min(n_jobs, cores)
            return max(1, cores // parallel)
    slurm_cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    return int(slurm_cpus) if slurm_cpus and slurm_cpus.isdigit() else None
