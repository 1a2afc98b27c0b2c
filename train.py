"""Entry point: ``python train.py estimator=pathwise`` (see README.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from reparam_opt.config import register_configs
from reparam_opt.interruption import exit_code
from reparam_opt.summary import one_line, sweep_value
from reparam_opt.training import train

register_configs()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run one job; return ``cfg.return_metric`` (for a sweeper such as Optuna to minimise), if set."""
    summary = train(cfg, Path(HydraConfig.get().runtime.output_dir))
    print(one_line(summary))
    if code := exit_code(summary):  # interrupted: 130 (SIGINT) or 143 (SIGTERM), after saving
        sys.exit(code)
    return None if cfg.return_metric is None else sweep_value(summary, cfg.return_metric)


if __name__ == "__main__":
    main()
