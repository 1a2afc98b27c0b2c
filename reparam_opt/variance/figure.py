"""The variance study's figure: measured variances with intervals, closed forms as lines (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files and TensorBoard only; never a window
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

AXIS_NAMES = {
    "n_samples": "n, samples per estimate",
    "theta": "θ",
    "sigma": "σ",
    "objective.k": "k",
    "dim": "D, dimensions",
}


def variance_figure(
    rows: Sequence[dict[str, Any]],
    curves: dict[str, tuple[np.ndarray, np.ndarray | None]],
    parameter: str,
    per_sample: bool,
    log_x: bool,
    title: str,
) -> Figure:
    """Measured variances with their intervals as points, each estimator's closed form as a line."""
    fig, ax = plt.subplots(figsize=(7.5, 5.2), layout="constrained")
    column = "per_sample_variance" if per_sample else "variance"
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (key, (grid, curve)) in enumerate(curves.items()):
        colour = colours[index % len(colours)]
        mine = [r for r in rows if r["estimator"] == key and r[column] > 0]
        if mine:
            scale = np.array([r["n_samples"] if per_sample else 1 for r in mine], dtype=float)
            y = np.array([r[column] for r in mine])
            low, high = (
                np.array([r["ci_low"] for r in mine]) * scale,
                np.array([r["ci_high"] for r in mine]) * scale,
            )
            ax.errorbar(
                [r["value"] for r in mine],
                y,
                # Bonett's interval is centred on c·s², c = R/(R − z) > 1: its low end may pass s²
                yerr=[np.clip(y - low, 0.0, None), np.clip(high - y, 0.0, None)],
                fmt="o",
                color=colour,
                capsize=4,
                label=f"{key}: measured, {len(mine)} points",
            )
        if curve is not None:
            ax.plot(
                grid,
                curve,
                "-",
                color=colour,
                alpha=0.7,
                label=f"{key}: {closed_form_label(grid, curve, parameter)}",
            )
    ax.set_xscale("log" if log_x else "linear")
    ax.set_yscale("log")
    ax.set_xlabel(AXIS_NAMES.get(parameter, parameter))
    ax.set_ylabel(
        "per-sample variance (n × variance of the estimate)" if per_sample else "variance of the estimate"
    )
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def closed_form_label(grid: np.ndarray, curve: np.ndarray, parameter: str) -> str:
    """'closed form 87/n' along an n sweep (where the curve is c/n), else 'closed form'."""
    if parameter == "n_samples" and curve[0] > 0:
        return f"closed form {curve[0] * grid[0]:.3g}/n"
    return "closed form"
