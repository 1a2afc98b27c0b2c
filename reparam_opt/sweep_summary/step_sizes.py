"""A sweep over ``lr``: what each estimator reaches at each step size, and where it stops being stable.

Drawn when the sweep varies ``lr``, one column per value of ``dim`` (one column when D is not
swept): on top the final RMS error of μ per coordinate (the RMS over replicates of ‖μ − μ*‖,
over √D, median over seeds) against η, a line per estimator; below it the share of replicates
diverged. Where every job minimises a square with σ fixed, the score function's critical step
η_c(D, n) (``reparam_opt.sweep_summary.stability``) is a dashed line: above it, its mean square has no
stationary value. The table picks, per estimator and D, the step size with the lowest final error
among those where no replicate diverged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files and TensorBoard only; never a window
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from reparam_opt.sweep_summary.jobs import ConfigGroup
from reparam_opt.sweep_summary.stability import score_critical_step

SQUARES = ("reparam_opt.objectives.Square", "reparam_opt.objectives.ShiftedSquare")
COLOURS = {"score": "tab:orange", "pathwise": "tab:blue", "score_baseline": "tab:green", "exact": "0.3"}


def step_size_rows(groups: Sequence[ConfigGroup], keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per finished configuration of a sweep over ``lr``; empty if ``lr`` is not swept."""
    if "lr" not in keys:
        return []
    rows = []
    for group in groups:
        done = group.finished
        if not done:
            continue
        config = done[0].summary["config"]
        dim = int(config.get("dim", 1))
        errors = [j.summary["final_rms_error"] for j in done if j.summary["final_rms_error"] is not None]
        replicates = sum(int(j.summary["config"]["replicates"]) for j in done)
        rows.append(
            {
                "estimator": str(
                    group.overrides.get("estimator", config["estimator"]["_target_"].split(".")[-1])
                ),
                "dim": dim,
                "lr": float(config["lr"]),
                "n_samples": int(config["n_samples"]),
                "error": float(np.median(errors)) / math.sqrt(dim) if errors else None,
                "diverged": 100.0 * sum(int(j.summary["diverged"]) for j in done) / replicates,
                "square": config["objective"]["_target_"] in SQUARES
                and config.get("scale", "fixed") == "fixed",
            }
        )
    return rows


def step_size_figure(rows: Sequence[dict[str, Any]], title: str) -> Figure:
    """The two rows of panels of the module docstring."""
    dims = sorted({r["dim"] for r in rows})
    estimators = list(dict.fromkeys(r["estimator"] for r in rows))
    fig, axes = plt.subplots(
        2,
        len(dims),
        figsize=(4.6 * len(dims), 6.4),
        layout="constrained",
        squeeze=False,
        sharex=True,
        sharey="row",
    )
    for column, dim in enumerate(dims):
        top, bottom = axes[0, column], axes[1, column]
        for name in estimators:
            mine = sorted(
                (r for r in rows if r["dim"] == dim and r["estimator"] == name), key=lambda r: r["lr"]
            )
            colour = COLOURS.get(name)
            shown = [r for r in mine if r["error"] is not None and r["diverged"] < 100]
            top.plot([r["lr"] for r in shown], [r["error"] for r in shown], "o-", color=colour, label=name)
            unstable = [r for r in shown if r["diverged"] > 0]
            top.plot(
                [r["lr"] for r in unstable], [r["error"] for r in unstable], "o", mfc="white", color=colour
            )
            bottom.plot(
                [r["lr"] for r in mine], [r["diverged"] for r in mine], "o-", color=colour, label=name
            )
        n_values = {r["n_samples"] for r in rows if r["dim"] == dim}
        if all(r["square"] for r in rows) and len(n_values) == 1:
            critical = score_critical_step(dim, n_values.pop())
            for ax in (top, bottom):
                ax.axvline(critical, color="tab:orange", ls="--", lw=1, alpha=0.8)
            top.set_title(f"D = {dim}: score's η_c = {critical:.2g}", fontsize=10)
        else:
            top.set_title(f"D = {dim}", fontsize=10)
        top.set_xscale("log")
        top.set_yscale("log")
        top.set_ylabel("final RMS error of μ per coordinate")
        bottom.set_ylabel("% of replicates diverged")
        bottom.set_ylim(-4, 104)
        bottom.set_xlabel("step size η")
        for ax in (top, bottom):
            ax.grid(True, which="both", alpha=0.3)
        top.legend(fontsize=8, title="hollow: some diverged", title_fontsize=7)
    fig.suptitle(title)
    return fig


def best_step_table(rows: Sequence[dict[str, Any]]) -> str:
    """Per estimator and D: the step size with the lowest final error among those with no divergence."""
    lines = [
        "| estimator | D | best η (no replicate diverged) | final RMS error per coordinate "
        "| largest η without divergence | score's η_c |",
        "|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["estimator"] for r in rows):
        for dim in sorted({r["dim"] for r in rows}):
            mine = [r for r in rows if r["estimator"] == name and r["dim"] == dim]
            stable = [r for r in mine if r["diverged"] == 0 and r["error"] is not None]
            best = min(stable, key=lambda r: r["error"], default=None)
            largest = max((r["lr"] for r in stable), default=None)
            critical = (
                f"{score_critical_step(dim, mine[0]['n_samples']):.2g}" if mine and mine[0]["square"] else "–"
            )
            best_lr, best_error = ("–", "–") if best is None else (f"{best['lr']:g}", f"{best['error']:.3g}")
            largest_lr = "–" if largest is None else f"{largest:g}"
            lines.append(f"| {name} | {dim} | {best_lr} | {best_error} | {largest_lr} | {critical} |")
    return "\n".join(lines)
