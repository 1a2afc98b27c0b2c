"""Divergence, interruption, reproducibility and output safety, each through real ``train.py`` processes."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import ROOT, run_train, scalars

pytestmark = pytest.mark.slow

NO_SWEEP_SUMMARY = "~hydra.callbacks.sweep_summary"  # not under test here, and it costs a matplotlib import


def start_train(*args: str, cwd: Path) -> subprocess.Popen:
    """``python train.py ARGS`` started in the background; its output goes to files in ``cwd``."""
    output = cwd / f"output-{time.monotonic_ns()}.txt"
    with open(output, "w") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    process.output = output
    return process


def finish(process: subprocess.Popen) -> str:
    """Wait for a run that must succeed; return what it printed."""
    code = process.wait(timeout=300)
    assert code == 0, process.output.read_text()
    return process.output.read_text()


def logged(run_dir: Path) -> dict[str, list]:
    """Every scalar and histogram a run logged, step by step, read back with EventAccumulator."""
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    series = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    for tag in acc.Tags()["histograms"]:
        series[tag] = [(e.step, str(e.histogram_value)) for e in acc.Histograms(tag)]
    return series


def read_summary(run_dir: Path) -> dict:
    def no_nan(constant: str) -> None:
        raise AssertionError(f"summary.json holds {constant}")

    return json.loads((run_dir / "summary.json").read_text(), parse_constant=no_nan)


def test_divergence_is_a_result_and_the_sweep_goes_on(tmp_path: Path) -> None:
    """Score function, n = 1, η = 0.1: some runs from θ0 = 6 blow up, every run from θ0 = 1e5 does."""
    result = run_train(
        "-m",
        "estimator=score",
        "n_samples=1",
        "lr=0.1",
        "theta0=6,1e5",
        "replicates=64",
        "steps=60",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    job_dirs = [s.parent for s in tmp_path.glob("outputs/multirun/*/*/*/summary.json")]
    jobs = {read_summary(job)["config"]["theta0"]: job for job in job_dirs}
    some, every = read_summary(jobs[6.0]), read_summary(jobs[1e5])

    assert some["status"] == "completed" and 0 < some["diverged"] < 64
    diverged = logged(jobs[6.0])["theta/diverged"]
    assert [s for s, _ in diverged] == list(range(61))
    counts = [v for _, v in diverged]
    assert counts == sorted(counts) and counts[0] == 0 and counts[-1] == some["diverged"]

    assert every["status"] == "diverged" and every["diverged"] == 64 and every["step"] < 60
    assert every["final_rms_error"] is None and every["stationary_rms"] is None
    assert logged(jobs[1e5])["theta/diverged"][-1] == (every["step"], 64.0)
    for job in jobs.values():  # no NaN or inf in any scalar or histogram
        acc = EventAccumulator(str(job), size_guidance={"scalars": 0, "histograms": 0})
        acc.Reload()
        assert all(math.isfinite(v) for series in scalars(job).values() for _, v in series)
        for event in acc.Histograms("grad/per_sample_terms"):
            h = event.histogram_value
            assert all(math.isfinite(x) for x in (h.min, h.max, h.sum, h.sum_squares))
    assert result.stdout.count("status=") == 2


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_flushes_events_and_saves_its_summary(tmp_path: Path, signum: int, code: int) -> None:
    process = start_train("steps=2000000", "replicates=8", "log_every=50", cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("outputs/runs/*/*/events.out.tfevents.*")):  # the loop is about to start
        assert process.poll() is None and time.monotonic() < deadline, "the run never started"
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(signum)
    assert process.wait(timeout=60) == code
    (run_dir,) = (tmp_path / "outputs" / "runs").glob("*/*")
    summary = read_summary(run_dir)
    step = summary["step"]
    assert summary["status"] == "interrupted" and summary["signal"] == signal.Signals(signum).name
    assert 0 < step < 2000000
    steps_logged = [s for s, _ in logged(run_dir)["theta/mean"]]
    assert steps_logged == sorted({*range(0, step + 1, 50), step})  # every step logged so far is on disk
    assert process.output.read_text().strip().splitlines()[-1].startswith("status=interrupted ")


def test_runs_started_together_never_share_a_directory(tmp_path: Path) -> None:
    """All ask for the same directory name, as runs started in the same second do."""
    same_run_dir = "hydra.run.dir=${fresh_dir:outputs/runs/same}"
    same_sweep_dir = "hydra.sweep.dir=${fresh_dir:outputs/multirun/same}"
    processes = [
        start_train(same_run_dir, f"seed={seed}", "steps=5", "replicates=4", cwd=tmp_path) for seed in (1, 2)
    ]
    processes += [
        start_train(
            "-m",
            NO_SWEEP_SUMMARY,
            same_sweep_dir,
            *launcher,
            f"seed={seed}",
            "steps=5,6",
            "replicates=4",
            cwd=tmp_path,
        )
        for seed, launcher in ((3, ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")), (4, ()))
    ]
    for process in processes:
        finish(process)
    runs = sorted((tmp_path / "outputs" / "runs").iterdir())
    sweeps = sorted((tmp_path / "outputs" / "multirun").iterdir())
    assert [p.name for p in runs] == ["same", "same_2"] and [p.name for p in sweeps] == ["same", "same_2"]
    job_dirs = runs + [job for sweep in sweeps for job in sweep.iterdir() if (job / ".hydra").is_dir()]
    assert len(job_dirs) == 6
    seeds, jobs_of = [], {}
    for job in job_dirs:
        assert len(list(job.glob("events.out.tfevents.*"))) == 1  # one writer per directory
        config = read_summary(job)["config"]
        seeds.append(config["seed"])
        jobs_of.setdefault(job.parent.name, set()).add((config["seed"], config["steps"]))
    assert sorted(seeds) == [1, 2, 3, 3, 4, 4]
    assert all(
        len(jobs) == 2 and len({seed for seed, _ in jobs}) == 1
        for name, jobs in jobs_of.items()
        if name != "runs"
    )  # each sweep holds its own two jobs


def test_same_seed_reproduces_across_runs_sweeps_and_launchers(tmp_path: Path) -> None:
    """Bit-identical: run to run and sweep job to single run (separate processes; test_training.py also
    checks two runs in one process), joblib (1 torch thread) to basic (all threads).

    Above torch's parallel grain (32768 elements) reductions across replicates split over
    threads, so with 40000 replicates the across-replicate statistics agree to float precision
    while each replicate's θ (theta/replicate0) stays bit-identical.
    """
    overrides = ("estimator=score", "seed=7", "steps=20")
    launches = {
        "single": ("replicates=16",),
        "basic": ("-m", NO_SWEEP_SUMMARY, "replicates=16,40000"),
        "joblib": (
            "-m",
            NO_SWEEP_SUMMARY,
            "replicates=16,40000",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
        ),
    }
    processes = []
    for name, args in launches.items():
        (tmp_path / name).mkdir()
        processes.append(start_train(*args, *overrides, cwd=tmp_path / name))
    for process in processes:
        finish(process)

    def job(name: str, replicates: int) -> dict[str, list]:
        (run_dir,) = [
            d.parent
            for d in (tmp_path / name).glob("outputs/**/summary.json")
            if read_summary(d.parent)["config"]["replicates"] == replicates
        ]
        return logged(run_dir)

    single = job("single", 16)
    assert single["theta/replicate0"][-1][0] == 20
    assert job("basic", 16) == single
    assert job("joblib", 16) == single
    basic, parallel = job("basic", 40000), job("joblib", 40000)
    for tag in ("theta/replicate0", "theta/q05", "theta/q95", "theta/diverged"):  # no sum across replicates
        assert parallel[tag] == basic[tag], tag
    for tag in ("theta/mean", "theta/rms_error", "grad/mean"):
        assert [s for s, _ in parallel[tag]] == [s for s, _ in basic[tag]]
        assert [v for _, v in parallel[tag]] == pytest.approx([v for _, v in basic[tag]], rel=1e-5, abs=1e-6)
