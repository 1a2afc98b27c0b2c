"""What runs write, stored as numbers, to prove that a change of structure changes no number.

A run directory is reduced to its TensorBoard series (every (step, value) of every scalar tag, every
histogram's summary and buckets) and to its summary.json minus what differs from one run to the
next of the same config (wall time, thread count). Each series also keeps the SHA-256 it had when
the fixtures were first taken as hashes (``digest``), so a test can show that the stored numbers are
those numbers, not new ones. ``tests/test_regression.py`` compares fresh runs against them, value by
value, within the rounding that another CPU's kernels may change (``tests/fixture_tolerance.py``);
with ``--bit-for-bit``, exactly.

``python -m tests.regression OUT_DIR`` takes them again: the default run, the ``compare`` preset,
the runs off the default path, the divergence runs, the variance study's CSV and
``pair_table --theta 1``, each through its real command (the divergence runs in-process).
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
#: objective, Adam, replicates past torch's parallel grain), stored beside the default run.
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
#: the live count only at histogram steps, block ends and the run's end), first stored at 4fbb3d0,
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

#: The fields of a histogram event, in the order ``digest`` reads them (then its limits and counts).
HISTOGRAM_FIELDS = ("min", "max", "num", "sum", "sum_squares")


def digest(rows: list[tuple]) -> str:
    """SHA-256 of rows of ints and floats, each float written exactly."""
    text = "\n".join(",".join(v.hex() if isinstance(v, float) else str(v) for v in row) for row in rows)
    return hashlib.sha256(text.encode()).hexdigest()


#: Keys added to the config since the fixtures were taken, at the values that reproduce the
#: runs they describe (issue 11: a one-dimensional Gaussian with a fixed σ and no entropy term;
#: issue 12: the Gaussian family; issue 22: the learning rate's schedule).
ADDED_KEYS = {
    "dim": 1,
    "scale": "fixed",
    "entropy_weight": 0.0,
    "family": {"name": "gaussian"},
    "variance_draws": 0,
    "max_batch_elements": 8_388_608,
    "compile": False,
    "lr_schedule": "constant",
    "draws": {"_target_": "reparam_opt.families.draws.IID"},
    "control_variate": {"_target_": "reparam_opt.estimators.reduction.NoControl"},
}


def comparable_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """summary.json without wall time and threads, with moved ``_target_`` paths mapped to today's.

    A key added since at its reproducing value is dropped; at any other value it stays, and differs.
    """
    kept = {k: v for k, v in summary.items() if k not in VOLATILE}
    config = kept.get("config", {})
    if isinstance(config.get("family"), dict):  # its class path, since issue 21 builds it by instantiate
        config["family"].pop("_target_", None)
    for key, value in ADDED_KEYS.items():
        if config.get(key, value) == value:
            config.pop(key, None)
    objective = config.get("objective", {})
    if objective.get("_target_") in MOVED_TARGETS:
        objective["_target_"] = MOVED_TARGETS[objective["_target_"]]
    return kept


def histogram_rows(series: dict[str, Any]) -> list[tuple]:
    """A stored histogram series as the rows ``digest`` reads: step, summary, limits, counts."""
    return [
        (event["step"], *(event[f] for f in HISTOGRAM_FIELDS), *event["bucket_limit"], *event["bucket"])
        for event in series["events"]
    ]


def scalar_rows(series: dict[str, Any]) -> list[tuple]:
    return list(zip(series["steps"], series["values"]))


def run_record(run_dir: Path) -> dict[str, Any]:
    """Every scalar and histogram in ``run_dir`` as numbers, each series with its digest, and the
    comparable summary.json."""
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    scalars = {}
    for tag in sorted(acc.Tags()["scalars"]):
        events = acc.Scalars(tag)
        series = {"steps": [e.step for e in events], "values": [e.value for e in events]}
        scalars[tag] = {"points": len(events), "sha256": digest(scalar_rows(series)), **series}
    histograms = {}
    for tag in sorted(acc.Tags()["histograms"]):
        events = [
            {
                "step": e.step,
                **{f: getattr(h, f) for f in HISTOGRAM_FIELDS},
                "bucket_limit": list(h.bucket_limit),
                "bucket": list(h.bucket),
            }
            for e in acc.Histograms(tag)
            for h in [e.histogram_value]
        ]
        series = {"events": events}
        histograms[tag] = {"points": len(events), "sha256": digest(histogram_rows(series)), **series}
    summary = comparable_summary(json.loads((run_dir / "summary.json").read_text()))
    return {"scalars": scalars, "histograms": histograms, "summary": summary}


def run_fingerprint(run_dir: Path) -> dict[str, Any]:
    """``run_record`` reduced to one digest per series: two runs on one machine compare bit for bit."""
    record = run_record(run_dir)
    for kind in ("scalars", "histograms"):
        record[kind] = {tag: {k: s[k] for k in ("points", "sha256")} for tag, s in record[kind].items()}
    return record


def sweep_record(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    """``run_record`` of every job of a sweep, keyed by the job's directory name."""
    return {p.parent.name: run_record(p.parent) for p in sorted(sweep_dir.glob("*/summary.json"))}


def command(*args: str, cwd: Path) -> str:
    """Run ``python ARGS`` from the repository root's view; return its stdout."""
    return subprocess.run([sys.executable, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def to_json(value: Any, depth: int = 0) -> str:
    """JSON with one key per line and each list on one line: a fixture stays readable, its diffs small."""
    if not isinstance(value, dict) or not value:
        return json.dumps(value)
    pad = " " * (depth + 1)
    items = ",\n".join(f"{pad}{json.dumps(k)}: {to_json(v, depth + 1)}" for k, v in value.items())
    return "{\n" + items + "\n" + " " * depth + "}"


def dump(path: Path, record: dict[str, Any]) -> None:
    path.write_text(to_json(record) + "\n")


def take(out: Path) -> None:
    """Write every stored fixture into ``out``, from real commands run in a scratch directory."""
    from reparam_opt.training import train
    from tests.conftest import compose_config

    out.mkdir(parents=True, exist_ok=True)
    scratch = out / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    train_py = str(ROOT / "train.py")
    command(train_py, f"hydra.run.dir={scratch / 'default'}", cwd=ROOT)
    dump(out / "default_run.json", run_record(scratch / "default"))
    command(train_py, "-m", "+experiment=compare", f"hydra.sweep.dir={scratch / 'compare'}", cwd=ROOT)
    dump(out / "compare.json", sweep_record(scratch / "compare"))
    edges = {}
    for name, overrides in EDGE_RUNS.items():
        command(train_py, *overrides, f"hydra.run.dir={scratch / name}", cwd=ROOT)
        edges[name] = run_record(scratch / name)
    dump(out / "edges.json", edges)
    divergence = {}
    for name, overrides in DIVERGENCE_RUNS.items():
        train(compose_config("config", *overrides), scratch / name)
        divergence[name] = run_record(scratch / name)
    dump(out / "divergence.json", divergence)
    command("-m", "reparam_opt.variance", f"hydra.run.dir={scratch / 'variance'}", cwd=ROOT)
    shutil.copy(scratch / "variance" / "variance.csv", out / "variance.csv")
    (out / "pair_table_theta1.md").write_text(
        command("-m", "reparam_opt.pair_table", "--theta", "1", cwd=ROOT)
    )
    shutil.rmtree(scratch)


if __name__ == "__main__":
    take(Path(sys.argv[1]))
