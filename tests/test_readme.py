"""The README's "start here" commands, copied in order into a fresh shell from a fresh clone.

The clone is the working tree's tracked and unignored files (what ``git clone`` of it would give,
uncommitted changes included), the shell a new ``bash`` with this machine's environment less any
virtual environment the tests run in: what a newcomer has after opening a terminal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = ROOT / "README.md"


def block(marker: str) -> list[str]:
    """The commands of the fenced block under ``<!-- marker -->``, one per line, comments dropped."""
    lines = README.read_text().splitlines()
    start = lines.index(f"<!-- {marker} -->")
    fence = next(i for i in range(start, len(lines)) if lines[i].startswith("```"))
    end = next(i for i in range(fence + 1, len(lines)) if lines[i].startswith("```"))
    return [line.split(" # ")[0].strip() for line in lines[fence + 1 : end] if line.strip()]


def quoted_last_line() -> str:
    """The main command's last line, as the README quotes it under ``<!-- last-line -->``."""
    return block("last-line")[0]


def fresh_clone(destination: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def fresh_shell_environment() -> dict[str, str]:
    """This process's environment without its virtual environment: no VIRTUAL_ENV, no venv on PATH."""
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served_runs(port: int, deadline: float) -> list[str]:
    """The runs TensorBoard lists once it has loaded the logs."""
    while True:
        try:
            with urllib.request.urlopen(f"http://localhost:{port}/data/runs", timeout=5) as response:
                runs = json.loads(response.read())
            if runs or time.monotonic() > deadline:
                return runs
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def keys(line: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in line.split())


@pytest.mark.slow
def test_the_start_here_commands_work_when_copied(tmp_path: Path) -> None:
    commands = block("start-here")
    assert commands[0].startswith("python3 -m venv .venv") and ". .venv/bin/activate" in commands[0]
    assert commands[-1].startswith("tensorboard --logdir outputs")
    clone = tmp_path / "reparam-opt"
    fresh_clone(clone)
    port = free_port()
    script = "\n".join(
        [
            *(f"echo '$ {c}' >&2\n{c}" for c in commands[:-1]),
            f"{commands[-1]} --port {port} > tensorboard.log 2>&1 &",
            "echo $! > tensorboard.pid",
        ]
    )
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-c", script],
        cwd=clone,
        env=fresh_shell_environment(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    pid = int((clone / "tensorboard.pid").read_text()) if (clone / "tensorboard.pid").exists() else None
    try:
        assert done.returncode == 0, done.stderr[-3000:]
        finals = [line for line in done.stdout.splitlines() if line.startswith("status=")]
        single = finals[0]  # the single run's last line, then one per sweep job
        expected = quoted_last_line()
        assert keys(single).keys() == keys(expected).keys()
        for key in ("status", "steps_to_tolerance", "diverged"):
            assert keys(single)[key] == keys(expected)[key], key
        run_dir = clone / keys(single)["dir"]
        assert (run_dir / "summary.json").is_file() and list(run_dir.glob("events.out.tfevents.*"))
        (sweep,) = (clone / "outputs" / "multirun").glob("*/*")
        assert (sweep / "summary.md").is_file() and (sweep / "comparison.png").is_file()
        runs = served_runs(port, time.monotonic() + 60)
        assert any(r.startswith("runs/") for r in runs) and any(r.startswith("multirun/") for r in runs), runs
    finally:
        if pid is not None:
            os.kill(pid, 15)
    assert not re.search(r"No module named|command not found", done.stderr), done.stderr[-3000:]
