"""The Slurm path for real: a sweep through ``hydra/launcher=slurm`` on a running cluster.

.ci/run starts a one-node cluster (scripts/local_slurm.sh) where it can; without one these tests
skip, saying how to start it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

START = "sudo bash scripts/local_slurm.sh start"


def idle_partition() -> str | None:
    """A partition with an idle (or partly used) node, or None without a cluster."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return None
    listed = subprocess.run(["sinfo", "--noheader", "--format=%P %t"], capture_output=True, text=True)
    for line in listed.stdout.splitlines():
        name, state = line.split()
        if state in ("idle", "mix"):
            return name.rstrip("*")
    return None


PARTITION = idle_partition()

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.skipif(
        PARTITION is None, reason=f"no Slurm cluster with an idle node: start one with `{START}`"
    ),
]


def sweep(sweep_dir: Path, *overrides: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "-m",
            "hydra/launcher=slurm",
            f"hydra.launcher.partition={PARTITION}",
            f"hydra.sweep.dir={sweep_dir}",
            *overrides,
        ],
        cwd=sweep_dir.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def summaries(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/summary.json")}


def test_a_sweep_runs_every_job_inside_slurm(tmp_path: Path) -> None:
    started = time.perf_counter()
    done = sweep(tmp_path / "sweep", "estimator=score,pathwise", "seed=0,1")
    output, _ = done.communicate(timeout=600)
    assert done.returncode == 0, output
    jobs = summaries(tmp_path / "sweep")
    assert len(jobs) == 4 and all(job["status"] == "completed" for job in jobs.values())
    assert len({job["slurm_job_id"] for job in jobs.values()}) == 4  # four jobs, each its own ID
    assert all(job["threads"] == int(job["slurm_cpus_per_task"]) for job in jobs.values())
    assert (tmp_path / "sweep" / "summary.md").is_file()
    assert "Bypassing sacct error" not in output  # one line says how job states are read instead
    ids = sorted(job["slurm_job_id"] for job in jobs.values())
    print(f"4 jobs in {time.perf_counter() - started:.1f} s, IDs {ids}")


def test_a_cancelled_job_is_saved_as_interrupted_and_the_sweep_ends(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    running = sweep(sweep_dir, "estimator=score", "replicates=1", "steps=10000000")
    job = None
    for _ in range(120):  # until Slurm runs it and its run has begun writing
        listed = subprocess.run(["squeue", "--noheader", "--format=%A %T"], capture_output=True, text=True)
        job = next((line.split()[0] for line in listed.stdout.splitlines() if line.endswith("RUNNING")), None)
        if job is not None and list(sweep_dir.glob("*/events.out.tfevents.*")):
            break
        time.sleep(0.5)
    assert job is not None, "the job never ran"
    time.sleep(2)
    subprocess.run(["scancel", job], check=True)
    output, _ = running.communicate(timeout=300)  # the sweep ends, it does not wait forever
    assert running.returncode == 1, output
    assert f"job {job}" in output and "ended without a result (Slurm state CANCELLED)" in output
    (summary,) = summaries(sweep_dir).values()
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM"
    assert 0 < summary["step"] < 10_000_000
    listed = subprocess.run(
        [sys.executable, "-m", "reparam_opt.sweep_summary", str(sweep_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 1 and "status=interrupted" in listed.stdout + listed.stderr
    print(f"job {job} cancelled at step {summary['step']}; the sweep exited {running.returncode}")
