"""Runtime settings: torch threads per job (they depend on the launcher), and the C heap."""

from __future__ import annotations

import ctypes
import functools
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


@functools.lru_cache(maxsize=None)
def _glibc() -> ctypes.CDLL | None:
    """glibc, or None on another C library."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


#: glibc's mallopt parameters (malloc.h) and the values ``keep_freed_memory`` gives them.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's largest allowed value on 64-bit
_NEVER_TRIM = 2**31 - 1


def keep_freed_memory() -> bool:
    """Let glibc reuse freed blocks of up to 32 MB instead of returning them to the OS (glibc only).

    A training step allocates the same few [replicates, n_samples] temporaries every time. By
    default glibc maps blocks over its dynamic threshold freshly and gives freed heap back above
    a trim threshold, so a step pays a page fault per 4 KiB of its temporaries again and again:
    at 10⁶ samples, about 2900 faults per score-function step on this project's machine, where
    they cost 2–3 ms of a 12 ms step (B1 in README.md, "Performance"). Fixed thresholds keep those pages for reuse; the
    price is that the process keeps its peak heap until it exits. Returns whether it applied.
    """
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))
