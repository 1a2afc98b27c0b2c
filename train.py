"""Entry point: ``python train.py estimator=pathwise`` (see README.md)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode
from omegaconf import DictConfig

from reparam_opt.training import train
from reparam_opt.training.cli import exit_with, run_app
from reparam_opt.training.config import register_configs
from reparam_opt.training.run import resolve
from reparam_opt.training.runtime import (
    exit_code,
    keep_freed_memory,
    quiet_event_writer_thread,
    threads_per_job,
    use_threads,
)
from reparam_opt.training.summary import one_line, sweep_value, write_failure

register_configs()
log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run one job; return ``cfg.return_metric`` (for a sweeper such as Optuna to minimise), if set."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        run = resolve(cfg)  # checked and built once, before `threads` is applied
        use_threads(threads_per_job(cfg.threads))  # parallel jobs split the cores between them
        keep_freed_memory()  # a step's temporaries are reused, not page-faulted in anew each step
        quiet_event_writer_thread()  # its fault comes back from train() as one line
        summary = train(cfg, run_dir, run)
    except Exception as err:
        # Any failure (a bad value, an out-of-memory error) is recorded in summary.json as
        # "failed" with its one line; what was logged before it is already on disk (train()).
        summary = record_failure(run_dir / "summary.json", cfg, err)
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            # One line and exit 1, no traceback (HYDRA_FULL_ERROR=1 for one): a bad value as its
            # check words it, any other failure as "error: <type>: <message>".
            line = str(err) if isinstance(err, CompactHydraException) else f"error: {summary['error']}"
            exit_with(line, err)
        # One failed job must not cost the sweep its other jobs or its summary: the
        # sweep-summary callback lists it and makes the sweep exit non-zero.
        log.error("job failed: %s", err)
    print(one_line(summary, run_dir))
    if code := exit_code(summary):  # interrupted: 130 (SIGINT) or 143 (SIGTERM), after saving
        sys.exit(code)
    return None if cfg.return_metric is None else sweep_value(summary, cfg.return_metric)


def record_failure(path: Path, cfg: DictConfig, err: Exception) -> dict:
    """summary.json for a failed job; if even that cannot be written (a full disk, a vanished
    directory), the error's line says so too, and the summary stays in memory."""
    try:
        return write_failure(path, cfg, err)
    except OSError as write_error:
        line = f"{type(err).__name__}: {err} (and {path} could not be written: {write_error})"
        return {"status": "failed", "error": line}


if __name__ == "__main__":
    run_app(main)
