"""Faults while writing (a full disk, a vanished directory), simulated by patching the write: one
line and a non-zero exit, and never a half-written summary.json or summary.md (the previous one
stays as it was)."""

from __future__ import annotations

import errno
import io
import json
import os
import sys
from pathlib import Path

import pytest

from reparam_opt import summary as summary_module
from reparam_opt.summary import write_atomically, write_summary

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
