"""summary.json and the other result files: written atomically, so a reader never sees half a file."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

#: The end-of-run metrics, in the order the final line prints them.
METRIC_KEYS = ("steps_to_tolerance", "final_rms_error", "stationary_rms", "path_length_ratio", "diverged")

#: The metrics measured against θ*: they do not apply to a run without one (the Bernoulli family,
#: whose θ* lies at ∓∞, or an objective such as ``gaussian_bump`` with no closed-form minimiser).
THETA_STAR_METRICS = ("steps_to_tolerance", "final_rms_error", "stationary_rms")

#: How a tolerance that applies but was never reached reads, in the final line as in summary.md.
NEVER = "never"


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


def has_theta_star(summary: Mapping[str, Any]) -> bool:
    """Whether the run measured θ against a θ* (a failed run's summary.json records none)."""
    return summary.get("theta_star") is not None


def line_value(summary: Mapping[str, Any], key: str) -> str | None:
    """How the final line shows ``key``, or None to leave it out.

    A value that does not exist is left out rather than printed as None: a metric that does not
    apply (the errors against θ* of a run without one), a failed run's metrics, a statistic with no
    live replicate left to measure. A script then never reads a placeholder as a value, and a person
    reads only numbers. The exception is a tolerance that applies but was never reached: leaving it
    out would hide a result, so it reads ``never``, as in summary.md.
    """
    value = summary.get(key)
    if value is None:
        return NEVER if key == "steps_to_tolerance" and has_theta_star(summary) else None
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def shell_path(path: Path) -> str:
    """``path`` as a user would type it: relative to the current directory where it lies inside it,
    absolute elsewhere, and quoted where a shell needs it, so that it pastes into
    ``tensorboard --logdir`` and the line still splits into key=value pairs (``shlex.split``)."""
    absolute = Path(os.path.abspath(path))
    try:
        shown = str(absolute.relative_to(Path.cwd()))
    except ValueError:
        shown = str(absolute)
    return shlex.quote(shown)


def one_line(summary: Mapping[str, Any], run_dir: Path | None = None) -> str:
    """The run's final result as one line of key=value pairs: status, the metrics that have a value
    (``line_value``), wall time, and last the directory the run wrote into, where it is given."""
    extra = [
        k
        for k in ("final_objective", "final_theta_median", "final_sigma_mean", "final_elbo", "elbo_gap")
        if k in summary
    ]
    keys = ("status", *METRIC_KEYS, *extra, "wall_seconds")
    pairs = [(k, line_value(summary, k)) for k in keys]
    if run_dir is not None:
        pairs.append(("dir", shell_path(run_dir)))
    return " ".join(f"{k}={v}" for k, v in pairs if v is not None)


def sweep_value(summary: Mapping[str, Any], metric: str) -> float:
    """The metric a sweeper minimises: +inf for a diverged run or a metric that is None or not finite."""
    if metric not in summary:
        raise ValueError(f"return_metric={metric} is not a metric of this run")
    value = summary[metric]
    if summary["status"] != "completed" or value is None or not math.isfinite(value):
        return math.inf
    return float(value)
