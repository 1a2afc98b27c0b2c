"""The process around a run: threads, the C heap, signals, the progress bar.

Nothing here acts on import. The two process-wide settings, ``use_threads`` and
``keep_freed_memory``, are called by the entry points (``train.py``, the variance app, the
benchmarks), never by the library calls they run, so a notebook or a test that calls
``train()`` keeps its process as it was. ``stop_on_signals`` installs its handlers for the
duration of a run and puts the previous ones back.

SIGINT/SIGTERM are a request to stop at the next step boundary, so the run can save what it
has: the first signal only sets a flag; the training loop checks it between steps, then flushes
its events and writes summary.json with ``status: "interrupted"``. A second signal of the same
kind acts at once (the previous handler is back in place). The process exits 128 + the signal
number: 130 for SIGINT, 143 for SIGTERM, as a shell reports a process killed by it.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from tqdm import tqdm


def use_threads(threads: int | None) -> None:
    """Set torch's thread count for this process (None: leave torch's default)."""
    if threads is not None:
        torch.set_num_threads(threads)


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


@functools.cache
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
    at 10⁶ samples, thousands of page faults per score-function step (docs/performance.md, B1).
    Fixed thresholds keep those pages for reuse; the price is that the process keeps its peak
    heap until it exits. Returns whether it applied.
    """
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM)
    )


SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Which signal asked the run to stop, if any."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str | None:
        return None if self.signum is None else signal.Signals(self.signum).name


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Within the block, SIGINT/SIGTERM set the yielded request instead of killing the process."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield request
        return
    previous = {signum: signal.getsignal(signum) or signal.SIG_DFL for signum in SIGNALS}

    def handle(signum: int, frame: Any) -> None:
        request.signum = signum
        signal.signal(signum, previous[signum])

    for signum in SIGNALS:
        signal.signal(signum, handle)
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def exit_code(summary: Mapping[str, Any]) -> int:
    """0 for a run that ended by itself (completed or diverged), 128 + signal for an interrupted one."""
    if summary["status"] != "interrupted":
        return 0
    return 128 + signal.Signals[summary["signal"]].value


#: Runs expected to take less than this many seconds show no bar (tqdm's own ``delay``).
DELAY_SECONDS = 1.5


def interactive() -> bool:
    """True for a single run whose stdout and stderr are a terminal: no multirun job, no pipe or file."""
    if not (sys.stdout.isatty() and sys.stderr.isatty()):
        return False
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return False
    return True


def progress_bar(steps: int, label: str) -> tqdm:
    """A bar over ``steps`` updates that appears only after ``DELAY_SECONDS`` and only if interactive."""
    return tqdm(
        total=steps,
        desc=label,
        unit="step",
        delay=DELAY_SECONDS,
        disable=not interactive(),
        leave=False,
        dynamic_ncols=True,
    )


def quiet_event_writer_thread() -> None:
    """Let the TensorBoard writer's thread fail without a traceback of its own.

    A write that fails there (a full disk) is raised again in the run at its next write, which
    reports it in one line (``board.event_file``); Python's default hook would first print the
    thread's traceback. Every other thread keeps the hook it had. Process-wide: entry points only.
    """
    previous = threading.excepthook
    if getattr(previous, "quiet_event_writer", False):
        return

    def hook(args: Any) -> None:
        if type(args.thread).__module__.startswith("tensorboard.summary.writer"):
            return
        previous(args)

    hook.quiet_event_writer = True  # type: ignore[attr-defined]
    threading.excepthook = hook
