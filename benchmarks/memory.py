"""Peak resident memory of a whole command, read from the OS after the command exits."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

TRAIN = Path(__file__).resolve().parents[1] / "train.py"

#: Runs ``sys.argv[1:]`` as a child and prints the child's peak RSS in KiB (Linux ru_maxrss).
_PROBE = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak_rss_mib(command: list[str], cwd: str) -> float:
    """Peak resident set size of ``command``, in MiB, measured in a fresh probe process."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *command], check=True, capture_output=True, text=True, cwd=cwd
    )
    return int(out.stdout.split()[-1]) / 1024


def default_run() -> tuple[float, float]:
    """``python train.py`` with the defaults, and the baseline of an interpreter that only imports torch."""
    with tempfile.TemporaryDirectory() as run_dir:
        run = peak_rss_mib([sys.executable, str(TRAIN), f"hydra.run.dir={run_dir}"], run_dir)
        bare = peak_rss_mib([sys.executable, "-c", "import torch"], run_dir)
    return run, bare
