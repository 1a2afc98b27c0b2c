"""Fingerprints of what runs write, to prove that a change of structure changes no number.

A run directory is reduced to one SHA-256 per TensorBoard tag, taken over every (step, value)
written, each float spelled exactly (``float.hex``), and to its summary.json minus what differs
from one run to the next of the same config (wall time, thread count). The stored fingerprints
in ``tests/reference/`` were taken from main before the redesign (see its README.md);
``tests/test_regression.py`` compares fresh runs against them.

``python -m tests.regression OUT_DIR`` takes them again: the default run, the ``compare`` preset,
the variance study's CSV and ``pair_table --theta 1``, each through its real command.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[1]

#: summary.json keys that legitimately differ between two runs of one config.
VOLATILE = ("wall_seconds", "threads", "slurm_job_id", "slurm_cpus_per_task")

#: Runs off the default path (divergence, masked steps, a sparse cadence, every estimator and
#: objective, Adam, replicates past torch's parallel grain), fingerprinted beside the default run.
EDGE_RUNS = {
    "some_diverge": ["estimator=score", "n_samples=1", "theta0=6", "replicates=64", "steps=60"],
    "all_diverge": ["estimator=score", "n_samples=1", "theta0=1e5", "replicates=16", "steps=60"],
    "sparse_cadence": [
        "estimator=score_baseline",
        "objective=cosine",
        "objective.k=3",
        "steps=1500",
        "replicates=16",
        "histogram_every=7",
    ],
    "bump_adam": ["estimator=measure_valued", "objective=gaussian_bump", "optimizer=adam", "steps=50"],
    "shifted_exact": [
        "estimator=exact",
        "objective=shifted_square",
        "objective.k=-1",
        "steps=30",
        "log_every=4",
    ],
    "many_replicates": ["estimator=score", "replicates=40000", "steps=1200", "threads=2"],
}

#: Runs in which replicates diverge between the steps the host looks at (issue 14: the loop reads
#: the live count only at histogram steps, block ends and the run's end), fingerprinted at 4fbb3d0,
#: when it read the count at every step, in ``reference/divergence.json`` (in-process ``train``).
DIVERGENCE_RUNS = {
    "adam_some_diverge": [
        "estimator=score",
        "n_samples=1",
        "theta0=6",
        "replicates=64",
        "steps=80",
        "optimizer=adam",
        "lr=300000",
    ],
    "momentum_some_diverge": [
        "estimator=score",
        "n_samples=1",
        "theta0=6",
        "replicates=64",
        "steps=80",
        "optimizer.momentum=0.5",
    ],
    "diverge_between_histograms": [
        "estimator=score",
        "n_samples=1",
        "theta0=6",
        "replicates=64",
        "steps=300",
        "log_every=3",
        "histogram_every=50",
    ],
    "all_diverge_sparse": [
        "estimator=score",
        "n_samples=1",
        "theta0=40",
        "replicates=4",
        "steps=400",
        "log_every=7",
        "histogram_every=70",
    ],
    "chunked_diverge": [
        "estimator=score",
        "n_samples=1",
        "theta0=6",
        "replicates=64",
        "steps=60",
        "max_batch_elements=16",
    ],
    "relax_diverge": [
        "family=bernoulli",
        "estimator=relax",
        "n_samples=1",
        "replicates=8",
        "steps=60",
        "lr=1e7",
        "log_every=3",
    ],
}

#: Objective classes that moved module in the redesign: old ``_target_`` → new.
MOVED_TARGETS = {
    "reparam_opt.nonpolynomial.GaussianBump": "reparam_opt.objectives.GaussianBump",
    "reparam_opt.nonpolynomial.Cosine": "reparam_opt.objectives.Cosine",
}


def digest(rows: list[tuple]) -> str:
    """SHA-256 of rows of ints and floats, each float written exactly."""
    text = "\n".join(",".join(v.hex() if isinstance(v, float) else str(v) for v in row) for row in rows)
    return hashlib.sha256(text.encode()).hexdigest()


#: Keys added to the config since the fingerprints were taken, at the values that reproduce the
#: runs they describe (issue 11: a one-dimensional Gaussian with a fixed σ and no entropy term;
#: issue 12: the Gaussian family).
ADDED_KEYS = {
    "dim": 1,
    "scale": "fixed",
    "entropy_weight": 0.0,
    "family": {"name": "gaussian"},
    "variance_draws": 0,
    "max_batch_elements": 8_388_608,
    "compile": False,
}


def comparable_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """summary.json without wall time and threads, with moved ``_target_`` paths mapped to today's.

    A key added since at its reproducing value is dropped; at any other value it stays, and differs.
    """
    kept = {k: v for k, v in summary.items() if k not in VOLATILE}
    config = kept.get("config", {})
    for key, value in ADDED_KEYS.items():
        if config.get(key, value) == value:
            config.pop(key, None)
    objective = config.get("objective", {})
    if objective.get("_target_") in MOVED_TARGETS:
        objective["_target_"] = MOVED_TARGETS[objective["_target_"]]
    return kept


def run_fingerprint(run_dir: Path) -> dict[str, Any]:
    """Per-tag digests of every scalar and histogram in ``run_dir``, and its comparable summary.json."""
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    scalars = {
        tag: {"points": len(events), "sha256": digest([(e.step, e.value) for e in events])}
        for tag in sorted(acc.Tags()["scalars"])
        for events in [acc.Scalars(tag)]
    }
    histograms = {}
    for tag in sorted(acc.Tags()["histograms"]):
        events = acc.Histograms(tag)
        rows = [
            (e.step, h.min, h.max, h.num, h.sum, h.sum_squares, *h.bucket_limit, *h.bucket)
            for e in events
            for h in [e.histogram_value]
        ]
        histograms[tag] = {"points": len(events), "sha256": digest(rows)}
    summary = comparable_summary(json.loads((run_dir / "summary.json").read_text()))
    return {"scalars": scalars, "histograms": histograms, "summary": summary}


def sweep_fingerprint(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    """``run_fingerprint`` of every job of a sweep, keyed by the job's directory name."""
    return {p.parent.name: run_fingerprint(p.parent) for p in sorted(sweep_dir.glob("*/summary.json"))}


def command(*args: str, cwd: Path) -> str:
    """Run ``python ARGS`` from the repository root's view; return its stdout."""
    return subprocess.run([sys.executable, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def take(out: Path) -> None:
    """Write every stored fingerprint into ``out``, from real commands run in a scratch directory."""
    out.mkdir(parents=True, exist_ok=True)
    scratch = out / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    train = str(ROOT / "train.py")
    command(train, f"hydra.run.dir={scratch / 'default'}", cwd=ROOT)
    command(train, "-m", "+experiment=compare", f"hydra.sweep.dir={scratch / 'compare'}", cwd=ROOT)
    (out / "default_run.json").write_text(json.dumps(run_fingerprint(scratch / "default"), indent=1) + "\n")
    edges = {}
    for name, overrides in EDGE_RUNS.items():
        command(train, *overrides, f"hydra.run.dir={scratch / name}", cwd=ROOT)
        edges[name] = run_fingerprint(scratch / name)
    (out / "edges.json").write_text(json.dumps(edges, indent=1) + "\n")
    (out / "compare.json").write_text(json.dumps(sweep_fingerprint(scratch / "compare"), indent=1) + "\n")
    command("-m", "reparam_opt.variance", f"hydra.run.dir={scratch / 'variance'}", cwd=ROOT)
    shutil.copy(scratch / "variance" / "variance.csv", out / "variance.csv")
    (out / "pair_table_theta1.md").write_text(
        command("-m", "reparam_opt.pair_table", "--theta", "1", cwd=ROOT)
    )
    shutil.rmtree(scratch)


if __name__ == "__main__":
    take(Path(sys.argv[1]))
