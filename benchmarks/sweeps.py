"""B4: one sweep of 2 estimators × 32 seeds, three ways, each a real ``python train.py -m`` process."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.timing import seconds

TRAIN = Path(__file__).resolve().parents[1] / "train.py"

#: The sweep: 2 estimators × 32 seeds of one replicate each, at the default 200 steps and n = 2.
SEEDS = 32
WAYS = {
    "a: basic launcher, 64 jobs": ["estimator=score,pathwise", f"seed=range(0,{SEEDS})", "replicates=1"],
    "b: joblib, 2 workers, 64 jobs": [
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "estimator=score,pathwise",
        f"seed=range(0,{SEEDS})",
        "replicates=1",
    ],
    "c: 2 jobs, replicates=32": ["estimator=score,pathwise", f"replicates={SEEDS}"],
}


def sweep(overrides: list[str]) -> None:
    """``python train.py -m OVERRIDES`` into a throw-away sweep directory; it must succeed."""
    with tempfile.TemporaryDirectory() as sweep_dir:
        subprocess.run(
            [sys.executable, str(TRAIN), "-m", *overrides, f"hydra.sweep.dir={sweep_dir}"],
            check=True,
            capture_output=True,
            cwd=sweep_dir,
        )


def throughput(repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each way, the ways alternated ``repeats`` times."""
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    for _ in range(repeats):
        for way, overrides in WAYS.items():
            times[way].append(seconds(lambda overrides=overrides: sweep(overrides)))
    return times
