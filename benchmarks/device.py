"""The device benchmarks (issue 14): B1 at several sizes and the small step, on ``--device``.

``python -m benchmarks.run --device cuda --only device`` prints, for each estimator and size, the
samples per second of a whole warm ``train()`` call over those of ``torch.randn`` of the same
shape on the same device in the same process (both synchronised), the peak device memory of the
run, and the µs per step of a 1 × 1 run. Steps are made whole (``max_batch_elements`` above the
largest size), as the figures in ../shared/gpu/README.md were. On the CPU the same code runs at
the sizes given, which is how it is tested (tests/test_benchmarks.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from benchmarks.loops import compose_config, real_run
from benchmarks.timing import spread

#: B1's sizes on a GPU: replicates × n_samples.
SIZES = ((1000, 1000), (4096, 4096), (10_000, 10_000))

#: B1's estimators on a GPU.
ESTIMATORS = ("pathwise", "score", "measure_valued")


def synchronised(device: str, fn: Callable[[], object]) -> float:
    """Wall time of ``fn`` with the device's queue empty before and after."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    started = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - started


@dataclass
class DeviceFigure:
    """One B1 figure: loop over randn samples per second, per repeat, and the run's peak memory."""

    estimator: str
    replicates: int
    n_samples: int
    ratios: list[float]
    loop_rate: list[float]
    randn_rate: list[float]
    peak_bytes: int | None
    #: The first, cold run's seconds (with ``compile``, its compilation included).
    first: float


def large_batch(
    estimator: str,
    replicates: int,
    n_samples: int,
    device: str,
    repeats: int,
    steps: int = 200,
    compiled: bool = False,
) -> DeviceFigure:
    """B1 on ``device``: a whole ``train()`` against ``torch.randn`` drawing as many samples."""
    cfg = compose_config(
        f"estimator={estimator}",
        f"replicates={replicates}",
        f"n_samples={n_samples}",
        f"steps={steps}",
        f"device={device}",
        f"max_batch_elements={max(replicates * n_samples * 2, 1)}",
        f"compile={str(compiled).lower()}",
    )

    def draws() -> None:
        for _ in range(steps + 1):
            torch.randn(replicates, n_samples, device=device)

    run = lambda: real_run(cfg)  # noqa: E731
    first = synchronised(device, run)  # warm-up; compiled, it includes the compilation
    synchronised(device, draws)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    pairs = [(synchronised(device, run), synchronised(device, draws)) for _ in range(repeats)]
    peak = torch.cuda.max_memory_allocated(device) if device.startswith("cuda") else None
    samples = replicates * n_samples * (steps + 1)
    return DeviceFigure(
        estimator,
        replicates,
        n_samples,
        [b / m for m, b in pairs],
        [samples / m for m, _ in pairs],
        [samples / b for _, b in pairs],
        peak,
        first,
    )


def small_step(device: str, repeats: int, steps: int = 2000) -> list[float]:
    """µs per step of a whole 1 × 1 run on ``device``."""
    cfg = compose_config("replicates=1", "n_samples=1", f"steps={steps}", f"device={device}")
    synchronised(device, lambda: real_run(cfg))
    return [synchronised(device, lambda: real_run(cfg)) * 1e6 / steps for _ in range(repeats)]


def report(
    device: str,
    repeats: int,
    sizes: tuple[tuple[int, int], ...] = SIZES,
    estimators: tuple[str, ...] = ESTIMATORS,
    steps: int = 200,
    small_steps: int = 2000,
    compiled: tuple[bool, ...] = (False,),
) -> list[str]:
    """Every device figure as a line, in the order docs/performance.md's GPU table lists them;
    ``compiled``: eager, compiled (``compile=true``) or both."""
    lines = []
    for replicates, n_samples in sizes:
        for estimator in estimators:
            for compile_step in compiled:
                f = large_batch(estimator, replicates, n_samples, device, repeats, steps, compile_step)
                peak = "" if f.peak_bytes is None else f", peak {f.peak_bytes / 2**30:.2f} GiB"
                lines.append(
                    f"B1 {device} {replicates}x{n_samples} {estimator:14s} "
                    f"{'compiled' if compile_step else 'eager':8s} loop / randn samples per s: "
                    f"{spread(f.ratios)}  (loop {spread(f.loop_rate, 1e-9)} G/s, "
                    f"randn {spread(f.randn_rate, 1e-9)} G/s{peak}; first run {f.first:.1f} s)"
                )
    lines.append(
        f"B2 {device} small step 1x1: {spread(small_step(device, repeats, small_steps))} µs per step"
    )
    return lines
