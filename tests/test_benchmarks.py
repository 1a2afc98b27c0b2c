"""The device benchmark (issue 14), run on the CPU at small sizes as a GPU session would run it."""

from __future__ import annotations

import re

import pytest

from benchmarks import device


@pytest.mark.slow
def test_the_device_report_has_every_figure() -> None:
    lines = device.report("cpu", 1, sizes=((16, 32),), steps=5, small_steps=20, compiled=(False, True))
    assert len(lines) == 2 * len(device.ESTIMATORS) + 1
    for line, (estimator, way) in zip(
        lines, [(e, w) for e in device.ESTIMATORS for w in ("eager", "compiled")]
    ):
        assert line.startswith(f"B1 cpu 16x32 {estimator}") and f" {way} " in line
        ratio = float(re.search(r"samples per s: ([0-9.e-]+)", line).group(1))
        assert ratio > 0 and "first run" in line  # measured; how fast is for the benchmark to say
    small = re.match(r"B2 cpu small step 1x1: (\S+) \((\S+)–(\S+)\) µs per step$", lines[-1])
    assert small and 0 < float(small[2]) <= float(small[1]) <= float(small[3])  # 1.15e+03 on a slow machine
