"""The Hydra callback that summarises every multirun of ``train.py`` when it ends.

Hydra instantiates callbacks in single runs too, so this module stays light: the report, and
with it matplotlib, is imported only when a multirun ends.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class SweepSummary(Callback):
    """Write summary.md, summary.csv and comparison.png into the sweep directory when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from reparam_opt.sweep_summary.report import write_report  # matplotlib only when a sweep ends

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            failed = write_report(sweep_dir)
        except OSError as error:  # a full disk, a vanished directory: one line, and the sweep fails
            log.error("could not write the sweep summary in %s: %s", sweep_dir, error)
            raise SystemExit(1) from None
        if failed:  # the summary is written; now the sweep reports its failures and exits 1
            log.error(
                "%d sweep job(s) failed (%s); see %s",
                len(failed),
                ", ".join(path for path, _ in failed),
                sweep_dir / "summary.md",
            )
            # Hydra turns a callback's exception into a warning; SystemExit is not an Exception.
            raise SystemExit(1)
