"""``python -m reparam_opt.variance``: measure, write the outputs, print the table.

A bad value ends a single study with its one line and exit 1. In a multirun it ends that job
only: the line goes to the log and to the job's ``failed.txt``, the sweep goes on, and its
comparison lists the job and makes the sweep exit 1 (``comparison.VarianceComparison``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from omegaconf import DictConfig

from reparam_opt.training.cli import exit_with, one_line, run_app
from reparam_opt.training.config import register_configs
from reparam_opt.training.runtime import keep_freed_memory
from reparam_opt.variance.comparison import FAILED
from reparam_opt.variance.config import register_variance_configs
from reparam_opt.variance.report import run_study, table
from reparam_opt.variance.tricks import slope_lines

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../../conf", config_name="variance")
def main(cfg: DictConfig) -> None:
    keep_freed_memory()  # every chunk's temporaries reuse the previous chunk's pages
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        rows = run_study(cfg, run_dir)
    except (ValueError, InstantiationException) as err:  # a bad value, checked before any work
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            exit_with(str(err), err)  # worded as train.py words its checks
        line = one_line(str(err))
        (run_dir / FAILED).write_text(line + "\n")
        log.error("job failed: %s", line)
        return
    print(table(rows, cfg.sweep.per_sample, cfg.confidence))
    if cfg.sweep.parameter == "n_samples":
        for line in slope_lines(rows):
            print(line)


if __name__ == "__main__":
    register_configs()
    register_variance_configs()
    run_app(main)
