"""``python -m reparam_opt.variance``: measure, write the outputs, print the table."""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from reparam_opt.training.cli import exit_with, run_app
from reparam_opt.training.config import register_configs
from reparam_opt.training.runtime import keep_freed_memory
from reparam_opt.variance.config import register_variance_configs
from reparam_opt.variance.report import run_study, table
from reparam_opt.variance.tricks import slope_lines


@hydra.main(version_base="1.3", config_path="../../conf", config_name="variance")
def main(cfg: DictConfig) -> None:
    keep_freed_memory()  # every chunk's temporaries reuse the previous chunk's pages
    try:
        rows = run_study(cfg, Path(HydraConfig.get().runtime.output_dir))
    except (ValueError, InstantiationException) as err:  # a bad value, checked before any work
        exit_with(str(err), err)  # worded as train.py words its checks
    print(table(rows, cfg.sweep.per_sample, cfg.confidence))
    if cfg.sweep.parameter == "n_samples":
        for line in slope_lines(rows):
            print(line)


if __name__ == "__main__":
    register_configs()
    register_variance_configs()
    run_app(main)
