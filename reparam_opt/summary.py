"""summary.json and the other result files: written atomically, so a reader never sees half a file."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

#: The end-of-run metrics, in the order the final line prints them.
METRIC_KEYS = ("steps_to_tolerance", "final_rms_error", "stationary_rms", "path_length_ratio", "diverged")

#: What ``return_metric`` may name per family: the Gaussian family's metrics measure θ against θ*;
#: the Bernoulli family has no θ* (θ → −∞) and returns its exact loss instead.
RETURN_METRICS = {
    "gaussian": METRIC_KEYS,
    "bernoulli": ("final_objective", "path_length_ratio", "diverged"),
}


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place.

    A reader never sees half a file, and a write that fails (a full disk, a vanished directory)
    leaves the previous file, if any, as it was and no temporary file behind; the OSError goes on.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_summary(path: Path, summary: Mapping[str, Any]) -> None:
    """summary.json, written atomically."""
    write_atomically(path, json.dumps(summary, indent=2))


def write_failure(path: Path, config: Any, error: BaseException) -> dict[str, Any]:
    """summary.json for a job that raised: status "failed", the error's message, no metrics."""
    summary = {
        "status": "failed",
        "error": f"{type(error).__name__}: {error}",
        **{key: None for key in METRIC_KEYS},
        "wall_seconds": None,
        "config": OmegaConf.to_container(config, resolve=False),
    }
    write_summary(path, summary)
    return summary


def one_line(summary: Mapping[str, Any]) -> str:
    """The run's final result as one line: status, metrics and wall time."""

    def fmt(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    extra = [k for k in ("final_objective", "final_theta_median", "final_sigma_mean") if k in summary]
    keys = ("status", *METRIC_KEYS, *extra, "wall_seconds")
    return " ".join(f"{k}={fmt(summary[k])}" for k in keys)


def sweep_value(summary: Mapping[str, Any], metric: str) -> float:
    """The metric a sweeper minimises: +inf for a diverged run or a metric that is None or not finite."""
    if metric not in summary:
        raise ValueError(f"return_metric={metric} is not a metric of this run")
    value = summary[metric]
    if summary["status"] != "completed" or value is None or not math.isfinite(value):
        return math.inf
    return float(value)
