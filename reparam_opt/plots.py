"""The figures: the variance study's log-log plot and the sweep comparison, both on matplotlib's Agg."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import matplotlib

matplotlib.use("Agg")  # files and TensorBoard only; never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

if TYPE_CHECKING:
    from reparam_opt.sweep_summary import ConfigCurves

AXIS_NAMES = {"n_samples": "n, samples per estimate", "theta": "θ", "sigma": "σ", "objective.k": "k"}


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
                yerr=[y - low, high - y],
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


FAMILIES = ("Oranges", "Blues", "Greys", "Greens", "Purples", "Reds")
KNOWN = {"score": "Oranges", "pathwise": "Blues", "exact": "Greys"}


def line_colours(configs: Sequence["ConfigCurves"]) -> list[tuple]:
    """A colour family per hue (estimator), darker for later values of the other keys."""
    hues = list(dict.fromkeys(c.hue for c in configs))
    family = {h: KNOWN.get(h, FAMILIES[(3 + i) % len(FAMILIES)]) for i, h in enumerate(hues)}
    return [plt.get_cmap(family[c.hue])(0.4 + 0.55 * c.shade) for c in configs]


def comparison_figure(configs: Sequence["ConfigCurves"], title: str) -> Figure:
    """RMS error of θ (log y), one θ path per configuration, and the in-step gradient variance (log y)."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 5), layout="constrained")
    colour = line_colours(configs)
    panels = [
        ("rms_error", "RMS error of θ over replicates (median over seeds)", "theta/rms_error", True),
        ("theta_path", "one run's θ (replicate 0, first seed)", "theta/replicate0", False),
        (
            "grad_variance",
            "in-step variance of the gradient estimate (median over seeds)",
            "grad/variance",
            True,
        ),
    ]
    for ax, (attr, panel_title, ylabel, log_y) in zip(axes, panels):
        absent = []
        for index, config in enumerate(configs):
            series = getattr(config, attr)
            steps, values = series if series is not None else (np.array([]), np.array([]))
            if log_y:
                keep = values > 1e-12  # the exact gradient's zeros cannot be drawn on a log axis
                steps, values = steps[keep], values[keep]
            if not len(values):
                absent.append(config.label)
                continue
            ax.plot(steps, values, color=colour[index], lw=1.4, label=config.label)
        if log_y:
            ax.set_yscale("log")
            floor = [float(getattr(c, attr)[1][-1]) for c in configs if getattr(c, attr) is not None]
            floor = [v for v in floor if v > 1e-8]
            if (
                floor
            ):  # the exact gradient's error falls to 1e-19: let it leave the axis, keep the rest legible
                ax.set_ylim(bottom=min(floor) / 4)
        if absent:
            ax.text(
                0.02,
                0.02,
                "not shown (not logged, e.g. n_samples = 1, or zero):\n" + "\n".join(absent),
                transform=ax.transAxes,
                fontsize=7,
                va="bottom",
                color="0.35",
            )
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[1].axhline(0.0, color="0.5", lw=0.8)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, title="configuration")
    fig.suptitle(title)
    return fig
