"""Every entry point besides train.py answers a bad value with one line and a non-zero exit, before any
work: the variance study, ``pair_table``, ``bernoulli_table``, ``sweep_summary`` and ``benchmarks.run``
(docs/reference.md, "Bad input"). In-process where the check is a function; through the real
command for the exit code and the absence of a traceback or a tensor dump."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import benchmarks.run
import reparam_opt.bernoulli_table
import reparam_opt.pair_table
import reparam_opt.sweep_summary.__main__
from reparam_opt.pair_table import bad_argument
from reparam_opt.variance.config import register_variance_configs
from reparam_opt.variance.study import study
from tests.conftest import ROOT, compose_config

register_variance_configs()

VARIANCE_ROWS = [
    ("theta=nan", "bad value theta=nan: must be a finite number"),
    ("theta=inf", "bad value theta=inf: must be a finite number"),
    ("sigma=nan", "bad value sigma=nan: must be a finite number > 0"),
    ("n_samples=0", "bad value n_samples=0: must be an integer >= 1"),
    ("chunk_elements=0", "bad value chunk_elements=0: must be an integer >= 1 (terms held at once)"),
    ("sweep=theta sweep.points=[1,nan]", "bad value sweep.points=[nan]: must be finite numbers"),
    (
        "+estimator@estimators.c=concrete",
        "bad value estimators.c=concrete: the study is of the Gaussian family",
    ),
    ("objective=target", "bad value objective=target: the study is of the Gaussian family"),
    (
        "sweep=theta sweep.parameter=sigma sweep.points=[0,1]",
        "bad value sweep.points=[0.0]: sweep.parameter=sigma must be > 0",
    ),
    (
        "objective=cosine objective.k=0",
        "objective.k=0.0 is not allowed for objective=cosine: k must be a finite number > 0",
    ),
    ("+sweep.pointz=[1]", "unknown key sweep.pointz: the nearest known key is sweep.points"),
    ("+thetta=1", "unknown key thetta: the nearest known key is theta"),
]


@pytest.mark.parametrize(("overrides", "line"), [row for row in VARIANCE_ROWS if row[1] is not None])
def test_variance_study_rejects_each_bad_value(overrides: str, line: str) -> None:
    with pytest.raises(ValueError) as error:
        study(compose_config("variance", *overrides.split()))
    assert str(error.value) == line


PAIR_TABLE_ROWS = [
    ({"theta": float("nan")}, "bad value --theta=nan: must be a finite number"),
    ({"sigma": 0.0}, "bad value --sigma=0.0: must be a finite number > 0"),
    ({"n_samples": 1}, "bad value --n-samples=1: must be an integer >= 2 (the leave-one-out baseline)"),
    ({"replicates": 1}, "bad value --replicates=1: must be an integer >= 2"),
]


@pytest.mark.parametrize(("change", "line"), PAIR_TABLE_ROWS)
def test_pair_table_rejects_each_bad_argument(change: dict, line: str) -> None:
    args = argparse.Namespace(theta=1.0, sigma=1.0, n_samples=10, replicates=100, seed=0)
    assert bad_argument(args) is None
    assert bad_argument(argparse.Namespace(**{**vars(args), **change})) == line


#: Each argparse entry point's ``main``, a bad argument, and its one line (``cli.LineParser``).
ARGPARSE_ROWS = [
    (
        reparam_opt.pair_table.main,
        ["--theta", "abc"],
        "python -m reparam_opt.pair_table: argument --theta: invalid float value: 'abc'",
    ),
    (
        reparam_opt.bernoulli_table.main,
        ["--bogus"],
        "python -m reparam_opt.bernoulli_table: unrecognized arguments: --bogus",
    ),
    (
        reparam_opt.sweep_summary.__main__.main,
        [],
        "python -m reparam_opt.sweep_summary: the following arguments are required: sweep_dir",
    ),
    (
        benchmarks.run.main,
        ["--repeats", "x"],
        "python -m benchmarks.run: argument --repeats: invalid int value: 'x'",
    ),
]


@pytest.mark.parametrize(("main", "argv", "line"), ARGPARSE_ROWS)
def test_each_argparse_app_refuses_a_bad_argument_in_one_line(
    monkeypatch: pytest.MonkeyPatch, main: Callable[[], None], argv: list[str], line: str
) -> None:
    monkeypatch.setattr(sys, "argv", ["app", *argv])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == line  # a string: printed on stderr, exit status 1


COMMANDS = [
    (["-m", "reparam_opt.variance", "theta=nan"], "bad value theta=nan: must be a finite number"),
    (
        ["-m", "reparam_opt.variance", "theta=abc"],
        "bad value theta=abc: Value 'abc' of type 'str' could not be converted to Float",
    ),
    (
        ["-m", "reparam_opt.variance", "+foo=1"],
        "unknown key foo: the nearest known key is estimators.score",
    ),
    (
        ["-m", "reparam_opt.variance", "chunk_elements=0"],
        "bad value chunk_elements=0: must be an integer >= 1 (terms held at once)",
    ),
    (["-m", "reparam_opt.pair_table", "--theta", "nan"], "bad value --theta=nan: must be a finite number"),
    (
        ["-m", "reparam_opt.bernoulli_table", "--replicates", "1"],
        "bad value --replicates=1: must be an integer >= 2",
    ),
    (["-m", "reparam_opt.bernoulli_table", "--t", "inf"], "bad value --t=inf: must be a finite number"),
    (
        ["-m", "reparam_opt.sweep_summary", "no/such/dir"],
        "bad value SWEEP_DIR=no/such/dir: not a directory; "
        "expected a sweep dir like outputs/multirun/<date>/<time>",
    ),
    (["-m", "benchmarks.run", "--repeats", "0"], "bad value --repeats=0: must be an integer >= 1"),
    (
        ["-m", "benchmarks.run", "--only", "B9"],
        "bad value --only=B9: B9 unknown; choose from B1,B2,B3,B4,memory,device,pyro,tricks",
    ),
    (
        ["-m", "benchmarks.run", "--only", "device", "--sizes", "10y"],
        "bad value --sizes=10y: '10y' is not REPLICATESxN_SAMPLES with both >= 1",
    ),
    *[(["-m", main.__module__.removesuffix(".__main__"), *argv], line) for main, argv, line in ARGPARSE_ROWS],
]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "line"), COMMANDS)
def test_each_command_exits_non_zero_with_one_line(tmp_path: Path, args: list[str], line: str) -> None:
    extra = [f"hydra.run.dir={tmp_path / 'run'}"] if "reparam_opt.variance" in args else []
    result = subprocess.run(
        [sys.executable, *args, *extra], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [line]
    assert "nan, nan" not in result.stdout
    assert not (tmp_path / "run" / "variance.csv").exists()


@pytest.mark.slow
def test_a_sweep_killed_with_sigkill_is_summarised_as_failed(tmp_path: Path) -> None:
    """A real ``kill -9`` of a running sweep leaves its running job without summary.json: the
    summary command lists it as probably killed and exits 1."""
    import os
    import signal
    import time

    sweep = tmp_path / "sweep"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "-m",
            "estimator=score,pathwise",
            "steps=10000000",
            "replicates=1",
            "log_every=100000",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(sweep.glob("*/.hydra/overrides.yaml")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # the job is in its loop
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert not list(sweep.glob("*/summary.json"))
    result = subprocess.run(
        [sys.executable, "-m", "reparam_opt.sweep_summary", str(sweep)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()  # one line per failed job, then the verdict
    assert len(lines) == 2 and "the job was probably killed" in lines[0]
    assert lines[1] == f"1 sweep job(s) failed; see {sweep / 'summary.md'}"
    assert "the job was probably killed" in (sweep / "summary.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("multirun", [False, True])
def test_a_failure_inside_train_is_recorded_with_one_line(tmp_path: Path, multirun: bool) -> None:
    """An out-of-memory error at step 3 leaves summary.json "failed" with the error's line, the
    steps logged before it in the event file, and exit 1 with that line (a single run as a sweep)."""
    import json

    from tests.conftest import run_train, scalars

    mode = ["-m", f"hydra.sweep.dir={tmp_path}"] if multirun else [f"hydra.run.dir={tmp_path}"]
    result = run_train(*mode, "estimator._target_=tests.failing.exhausts", "log_every=1", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    run_dir = next(tmp_path.glob("*/")) if multirun else tmp_path
    summary = json.loads((run_dir / "summary.json").read_text())
    line = "RuntimeError: CUDA out of memory. Tried to allocate 400.00 GiB"
    assert (summary["status"], summary["error"]) == ("failed", line)
    if not multirun:
        assert [text for text in result.stderr.splitlines() if text.strip()] == [f"error: {line}"]
    assert [step for step, _ in scalars(run_dir)["theta/mean"]] == [0, 1, 2]
