"""Cadence, thread and sweep-value rules (the device check is in tests/test_validation.py)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from reparam_opt.training.recorder import POINTS_PER_SERIES, cadence
from reparam_opt.training.runtime import _glibc, interactive, threads_per_job
from reparam_opt.training.summary import sweep_value


@pytest.mark.parametrize("steps", [1, 200, 1000, 1001, 5000, 123457])
def test_default_cadence_logs_about_a_thousand_points(steps: int) -> None:
    log_every, histogram_every = cadence(steps, None, None)
    logged = len(range(0, steps + 1, log_every))
    assert logged <= POINTS_PER_SERIES + 1
    assert log_every == 1 or logged > POINTS_PER_SERIES // 2
    assert histogram_every == 10 * log_every


def test_explicit_cadence_wins() -> None:
    assert cadence(5000, 3, 7) == (3, 7)


def test_sweep_value_maps_failures_to_infinity() -> None:
    done = {"status": "completed", "stationary_rms": 0.25, "steps_to_tolerance": None}
    assert sweep_value(done, "stationary_rms") == 0.25
    assert sweep_value(done, "steps_to_tolerance") == math.inf
    assert sweep_value({**done, "status": "diverged"}, "stationary_rms") == math.inf
    assert sweep_value({**done, "stationary_rms": math.nan}, "stationary_rms") == math.inf
    with pytest.raises(ValueError, match="return_metric=loss is not a metric of this run"):
        sweep_value(done, "loss")


def test_threads_requested_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert threads_per_job(3) == 3
    assert threads_per_job(None) is None
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")
    assert threads_per_job(None) == 4


def test_no_progress_bar_when_output_is_captured() -> None:
    assert not interactive()


#: Page faults over 120 score-function gradients at 1000 × 1000 samples (after 10 to warm up),
#: with glibc's default heap thresholds or with ``keep_freed_memory``.
_FAULTS = """
import resource, sys, torch
from reparam_opt.estimators import score
from reparam_opt.families.gaussian import at_point
from reparam_opt.objectives import Square
from reparam_opt.training.runtime import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
dist = at_point(1000, 1, 0.0, 1.0)
for _ in range(10):
    score(Square(), dist, 1000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(120):
    score(Square(), dist, 1000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

#: 4 KiB pages in one [1000, 1000] float32 temporary.
_PAGES_PER_TEMPORARY = 1000 * 1000 * 4 // 4096


@pytest.mark.slow
@pytest.mark.skipif(_glibc() is None, reason="keep_freed_memory applies to glibc only")
def test_keep_freed_memory_stops_refaulting_a_steps_temporaries() -> None:
    """By default glibc hands a step's 4 MB temporaries back and faults them in again; kept, they are reused.

    How often the default refaults depends on the machine (from a temporary every few steps to
    several per step), so the test asks only that the kept heap stops faulting after warm-up and
    that the default faults measurably more. The counts seen are in docs/performance.md, "The C heap".
    """
    faults = {
        mode: int(
            subprocess.run(
                [sys.executable, "-c", _FAULTS, mode], check=True, capture_output=True, text=True
            ).stdout
        )
        for mode in ("default", "keep")
    }
    assert faults["keep"] < 8 * _PAGES_PER_TEMPORARY  # fewer than 8 temporaries in 120 steps
    assert faults["default"] > 3 * max(faults["keep"], _PAGES_PER_TEMPORARY)
