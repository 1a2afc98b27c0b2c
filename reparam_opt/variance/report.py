"""The variance study's outputs: ``variance.csv``, ``variance.png``, a TensorBoard figure, the table."""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig
from torch.utils.tensorboard import SummaryWriter

from reparam_opt.variance.figure import variance_figure
from reparam_opt.variance.study import closed_form_curve, study

log = logging.getLogger(__name__)

COLUMNS = (
    "estimator",
    "parameter",
    "value",
    "theta",
    "sigma",
    "n_samples",
    "mean",
    "exact_gradient",
    "variance",
    "ci_low",
    "ci_high",
    "closed_form",
    "ratio",
    "vs_pathwise",
    "per_sample_variance",
    "per_sample_closed_form",
)


#: With a learned scale (``scale=diagonal``): the log-scale gradient's, per coordinate.
SCALE_COLUMNS = ("scale_variance", "scale_ci_low", "scale_ci_high", "scale_closed_form", "scale_ratio")


def run_study(cfg: DictConfig, run_dir: Path) -> list[dict[str, Any]]:
    """Measure, then write ``variance.csv``, ``variance.png`` and the TensorBoard figure into ``run_dir``."""
    rows = study(cfg)
    columns = COLUMNS if all(r["dim"] == 1 for r in rows) else (*COLUMNS[:6], "dim", *COLUMNS[6:])
    if any("scale_variance" in r for r in rows):
        columns = (*columns, *SCALE_COLUMNS)
    if any("draws" in r for r in rows):  # a variance-reduction trick is on
        columns = (*columns, "draws", "control_variate")
    with open(run_dir / "variance.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    sweep = cfg.sweep
    low, high = min(sweep.points), max(sweep.points)
    grid = np.geomspace(low, high, 200) if sweep.log_x and low > 0 else np.linspace(low, high, 200)
    if sweep.parameter == "dim":
        grid = np.unique(np.round(grid))  # D is a whole number: the closed form exists at integers only
    curves = {key: (grid, closed_form_curve(cfg, key, grid)) for key in cfg.estimators}
    symbols = {"theta": "θ", "sigma": "σ", "n_samples": "n"}
    if cfg.dim != 1 or sweep.parameter == "dim":
        symbols["dim"] = "D"
    fixed = ", ".join(f"{s}={cfg[k]:g}" for k, s in symbols.items() if k != sweep.parameter)
    what = (
        "Per-sample gradient variance" if sweep.per_sample else "Variance of the n-sample gradient estimate"
    )
    if "dim" in symbols:
        what += " per coordinate"
    intervals = "Bonett" if cfg.dim == 1 and sweep.parameter != "dim" else "Bonett (pooled for D > 1)"
    title = (
        f"{what} against {symbols.get(sweep.parameter, sweep.parameter)}\n"
        f"{fixed}, {cfg.repetitions} repetitions, "
        f"{cfg.confidence:.0%} {intervals} intervals; lines: closed forms"
    )
    fig = variance_figure(rows, curves, sweep.parameter, sweep.per_sample, sweep.log_x, title)
    fig.savefig(run_dir / "variance.png", dpi=120)
    with SummaryWriter(log_dir=str(run_dir)) as board:
        board.add_figure(f"variance/{sweep.parameter}", fig)  # closes the figure
    log.info("wrote variance.csv, variance.png and the TensorBoard figure to %s", run_dir)
    return rows


def table(rows: Sequence[dict[str, Any]], per_sample: bool, confidence: float) -> str:
    """The study as a Markdown table, ready to paste into docs/results.md."""
    what = "per-sample variance" if per_sample else "variance"
    scale = (lambda r: r["n_samples"]) if per_sample else (lambda r: 1)
    parameter = rows[0]["parameter"] if rows else "value"
    lines = [
        f"| estimator | {parameter} | mean | {what} | {confidence:.0%} interval "
        "| closed form | ratio | vs pathwise |",
        "|---|---|---|---|---|---|---|---|",
    ]
    learned = any("scale_variance" in r for r in rows)
    if learned:
        lines[0] += f" log σ {what} | closed form |"
        lines[1] += "---|---|"
    for r in rows:
        s = scale(r)
        line = (
            f"| {r['estimator']} | {r['value']:g} | {r['mean']:.4g} | {r['variance'] * s:.3g} "
            f"| [{r['ci_low'] * s:.3g}, {r['ci_high'] * s:.3g}] | {fmt(r['closed_form'], s)} "
            f"| {fmt(r['ratio'])} | {fmt(r['vs_pathwise'])} |"
        )
        if learned:
            line += f" {fmt(r['scale_variance'], s)} | {fmt(r['scale_closed_form'], s)} |"
        lines.append(line)
    return "\n".join(lines)


def fmt(value: float | None, scale: float = 1.0) -> str:
    return "–" if value is None else f"{value * scale:.3g}"
