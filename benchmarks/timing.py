"""Interleaved repeats of two timed sides, reported as a ratio: median with min–max."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


def seconds(fn: Callable[[], object]) -> float:
    """Wall time of one call."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@dataclass
class Comparison:
    """Repeated timings of a measured side and its baseline, taken alternately."""

    name: str
    measured: list[float]
    baseline: list[float]

    @classmethod
    def run(
        cls, name: str, measured: Callable[[], object], baseline: Callable[[], object], repeats: int
    ) -> Comparison:
        """Alternate the two sides ``repeats`` times after one warm-up call of each."""
        seconds(measured), seconds(baseline)
        pairs = [(seconds(measured), seconds(baseline)) for _ in range(repeats)]
        return cls(name, [m for m, _ in pairs], [b for _, b in pairs])

    def ratios(self) -> list[float]:
        """Baseline time over measured time, per repeat: above 1 means the measured side is faster."""
        return [b / m for m, b in zip(self.measured, self.baseline)]


def spread(values: list[float], scale: float = 1.0, fmt: str = ".3g") -> str:
    """``median (min–max)`` of ``values`` times ``scale``."""
    scaled = [v * scale for v in values]
    return f"{statistics.median(scaled):{fmt}} ({min(scaled):{fmt}}–{max(scaled):{fmt}})"
