"""A tqdm progress bar for interactive runs; silent in logs, pipes and multirun workers."""

from __future__ import annotations

import sys

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from tqdm import tqdm

#: Runs expected to take less than this many seconds show no bar (tqdm's own ``delay``).
DELAY_SECONDS = 1.5


def interactive() -> bool:
    """True for a single run whose stdout and stderr are a terminal: not a multirun job, not a pipe or file."""
    if not (sys.stdout.isatty() and sys.stderr.isatty()):
        return False
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return False
    return True


def progress_bar(steps: int, label: str) -> tqdm:
    """A bar over ``steps`` updates that appears only after ``DELAY_SECONDS`` and only if interactive."""
    return tqdm(total=steps, desc=label, unit="step", delay=DELAY_SECONDS, disable=not interactive(),
                leave=False, dynamic_ncols=True)
