"""The device benchmark (issue 14), run on the CPU at small sizes as a GPU session would run it."""

from __future__ import annotations

import re

from benchmarks import device


def test_the_device_report_has_every_figure() -> None:
    lines = device.report("cpu", 1, sizes=((16, 32),), steps=5, small_steps=20)
    assert len(lines) == len(device.ESTIMATORS) + 2
    for line, estimator in zip(lines, device.ESTIMATORS):
        assert line.startswith(f"B1 cpu 16x32 {estimator}")
        ratio = float(re.search(r"samples per s: ([0-9.e-]+)", line).group(1))
        assert ratio > 0  # measured; how fast is for the benchmark to say, not a test
    assert re.match(r"B2 cpu small step 1x1: [0-9.]+ ", lines[-2])
