"""Faults while writing (a full disk, a vanished directory), simulated by patching the write: one
line and a non-zero exit, and never a half-written summary.json or summary.md (the previous one
stays as it was)."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reparam_opt.training import summary as summary_module
from reparam_opt.training.summary import write_atomically, write_summary

FULL = OSError(errno.ENOSPC, "No space left on device")


class HalfWriter(io.StringIO):
    """A file that takes half of what it is given, then reports a full disk."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def write(self, text: str) -> int:
        self.path.write_text(text[: len(text) // 2])
        raise FULL


def fill_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every atomic write stops half way with ENOSPC, in its temporary file."""

    def fdopen(fd: int, mode: str = "r", *args, **kwargs):
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        os.close(fd)
        return HalfWriter(path)

    monkeypatch.setattr(summary_module.os, "fdopen", fdopen)


def test_a_full_disk_leaves_the_previous_summary_and_no_temporary_file(monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_summary(path, {"status": "completed", "step": 200})
    fill_disk(monkeypatch)
    with pytest.raises(OSError) as error:
        write_summary(path, {"status": "completed", "step": 400})
    assert error.value.errno == errno.ENOSPC
    assert json.loads(path.read_text()) == {"status": "completed", "step": 200}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_a_vanished_directory_is_an_oserror_not_a_half_file(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_atomically(tmp_path / "gone" / "summary.md", "# Sweep summary")


def test_the_sweep_summary_keeps_its_previous_files(monkeypatch, tmp_path: Path) -> None:
    """summary.md and summary.csv of an earlier summary survive a full disk, and the command
    answers with one line and exit 1."""
    from reparam_opt.sweep_summary import __main__ as command

    (tmp_path / "summary.md").write_text("# the previous summary\n")
    fill_disk(monkeypatch)
    monkeypatch.setattr(sys, "argv", ["sweep_summary", str(tmp_path)])
    with pytest.raises(SystemExit) as stop:
        command.main()
    assert (
        str(stop.value)
        == f"could not write the sweep summary in {tmp_path}: [Errno 28] No space left on device"
    )
    assert (tmp_path / "summary.md").read_text() == "# the previous summary\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_failed_run_whose_summary_cannot_be_written_says_both_in_one_line(make_cfg, tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from train import record_failure

    summary = record_failure(
        tmp_path / "gone" / "summary.json", make_cfg(), RuntimeError("CUDA out of memory")
    )
    assert summary["status"] == "failed"
    assert summary["error"].startswith("RuntimeError: CUDA out of memory (and ")
    assert "could not be written: [Errno 2] No such file or directory" in summary["error"]
    assert "\n" not in summary["error"]


#: ``python train.py ARGS`` whose event file takes LIMIT records, then reports a full disk: the
#: write fails in torch's writer thread, as a real one would.
_FULL_EVENT_FILE = """
import errno, runpy, sys
from tensorboard.summary.writer import record_writer
limit, train, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
records = []
write = record_writer.RecordWriter.write
def full_after_limit(self, data):
    records.append(data)
    if len(records) > limit:
        raise OSError(errno.ENOSPC, "No space left on device")
    return write(self, data)
record_writer.RecordWriter.write = full_after_limit
sys.argv = [train, *args]
runpy.run_path(train, run_name="__main__")
"""


@pytest.mark.slow
@pytest.mark.parametrize("limit", [5, 300])  # at the first rows of scalars; in a later block
def test_a_full_disk_under_the_event_file_is_one_line_and_a_failed_summary(
    limit: int, tmp_path: Path
) -> None:
    train_py = str(Path(__file__).resolve().parents[1] / "train.py")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _FULL_EVENT_FILE,
            str(limit),
            train_py,
            "steps=500",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    line = f"EventFileError: could not write the event file in {tmp_path}: [Errno 28] No space left on device"
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"error: {line}"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"] == line
