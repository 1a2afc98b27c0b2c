"""SIGINT/SIGTERM as a request to stop at the next step boundary, so the run can save what it has.

The first signal only sets a flag; the training loop checks it between steps, then flushes its
events and writes summary.json with ``status: "interrupted"``. A second signal of the same kind
acts at once (the previous handler is back in place). The process exits 128 + the signal
number: 130 for SIGINT, 143 for SIGTERM, as a shell reports a process killed by it.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Which signal asked the run to stop, if any."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str | None:
        return None if self.signum is None else signal.Signals(self.signum).name


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Within the block, SIGINT/SIGTERM set the yielded request instead of killing the process."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield request
        return
    previous = {signum: signal.getsignal(signum) or signal.SIG_DFL for signum in SIGNALS}

    def handle(signum: int, frame: Any) -> None:
        request.signum = signum
        signal.signal(signum, previous[signum])

    for signum in SIGNALS:
        signal.signal(signum, handle)
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def exit_code(summary: Mapping[str, Any]) -> int:
    """0 for a run that ended by itself (completed or diverged), 128 + signal for an interrupted one."""
    if summary["status"] != "interrupted":
        return 0
    return 128 + signal.Signals[summary["signal"]].value
