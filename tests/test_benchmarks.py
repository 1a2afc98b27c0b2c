"""The device benchmark (issue 14), run on the CPU at small sizes as a GPU session would run it."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
import torch

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


@pytest.mark.slow
def test_the_pyro_benchmark_times_every_side() -> None:
    """Issue 22: ours, Pyro's SVI step and the plain-torch floor at 256 and at 1 replicate, timed at
    tiny sizes; positive, finite figures (how fast is for the benchmark to say)."""
    pytest.importorskip("pyro")
    from benchmarks import pyro_peer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the benchmark runs; two threads of a busy 2-core machine are slower
    try:
        # ours is the difference of two runs: 200 steps more, so that it stands well clear of their noise
        f = pyro_peer.compare(1, replicates=4, steps_short=2, steps_long=202, pyro_steps=3, plain_steps=3)
    finally:
        torch.set_num_threads(threads)
    assert f.replicates == 4
    for side in ("ours", "pyro", "floor", "single"):
        assert len(getattr(f, side)) == 1
        assert all(v > 0 and math.isfinite(v) for v in f.per_second(side))
    assert all(v > 0 and math.isfinite(v) for v in f.over_pyro() + f.over_floor())


@pytest.mark.slow
def test_the_tricks_benchmark_times_every_trick() -> None:
    """Each variance-reduction trick against iid/none per step, and a Sobol' run against an iid one,
    at tiny sizes and one repeat: positive, finite times and ratios (how fast is for the benchmark
    to say)."""
    from benchmarks import tricks

    cases = tuple(dataclasses.replace(case, replicates=2, n_samples=4) for case in tricks.CASES)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the figures were taken; two threads of a busy 2-core machine are slower
    try:
        costs = tricks.step_costs(1, cases=cases, budget_s=0.0)
        run = tricks.sobol_run(1, "replicates=2", "steps=3")
    finally:
        torch.set_num_threads(threads)
    found = {(c.case, c.estimator, c.trick) for c in costs}
    for case in ("square", "logistic"):
        for estimator in ("pathwise", "score"):
            expected = set(tricks.TRICKS) - ({"moving_average"} if estimator == "pathwise" else set())
            assert {t for c, e, t in found if (c, e) == (case, estimator)} == expected
    for c in costs:
        values = c.seconds + c.baseline + c.ratios()
        assert len(c.seconds) == len(c.baseline) == 1
        assert all(v > 0 and math.isfinite(v) for v in values)
    assert all(v > 0 and math.isfinite(v) for v in run.measured + run.baseline + run.ratios())
