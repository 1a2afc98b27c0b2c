"""The real ``tensorboard`` server over a small sweep: every job is a run named by its overrides."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import run_train, scalars

pytestmark = pytest.mark.slow

STARTUP_SECONDS = 90


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_tensorboard_serves_each_sweep_job_as_a_run(tmp_path: Path) -> None:
    result = run_train("-m", "estimator=score,pathwise", "steps=12", "replicates=8", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (sweep_dir,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    jobs = sorted(p.name for p in sweep_dir.iterdir() if (p / ".hydra").is_dir())
    assert jobs == ["estimator=pathwise,replicates=8,steps=12", "estimator=score,replicates=8,steps=12"]

    log = tmp_path / "tensorboard.log"
    with open(log, "w") as out:  # port 0: the server picks a free port and prints it
        command = [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(sweep_dir),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ]
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not (address := re.search(r"at (http://127\.0\.0\.1:\d+/)", log.read_text())):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"the tensorboard server did not start: {log.read_text()[-500:]}")
            time.sleep(0.2)
        url = address.group(1)
        # It loads event files in the background. Besides the jobs it may list the sweep summary's run.
        while not set(jobs) <= set(runs := get_json(url + "data/runs")):
            assert time.monotonic() < deadline, f"tensorboard lists {runs}, not all of {jobs}"
            time.sleep(0.5)
        for job in jobs:
            query = urllib.parse.urlencode({"run": job, "tag": "theta/mean"})
            rows = get_json(f"{url}data/plugin/scalars/scalars?{query}")  # [wall_time, step, value]
            served = [(step, value) for _, step, value in rows]
            assert served == scalars(sweep_dir / job)["theta/mean"]
            assert [step for step, _ in served] == list(range(13)) and served[0] == (0, 3.0)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
