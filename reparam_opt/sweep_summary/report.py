"""Write a sweep's summary.md, summary.csv and comparison.png, and log the figure to TensorBoard."""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter

from reparam_opt.sweep_summary.figure import comparison_figure
from reparam_opt.sweep_summary.jobs import (
    ELBO_CONSTANTS,
    ELBO_METRICS,
    ConfigCurves,
    ConfigGroup,
    aggregate,
    curves,
    find_jobs,
    group_jobs,
    label,
    natural,
    varying_keys,
)
from reparam_opt.sweep_summary.step_sizes import best_step_table, step_size_figure, step_size_rows
from reparam_opt.training.summary import METRIC_KEYS, NEVER, write_atomically

log = logging.getLogger(__name__)

#: TensorBoard run of the summary, inside the sweep directory.
BOARD_DIR = "summary"
#: Significant digits where three do not tell configurations apart: the toy's losses differ in the fifth.
DIGITS = {"final_objective": 6, "final_elbo": 6}
#: summary.md's metric columns, in this order: each where some configuration has a value for it, so
#: a sweep of one family shows no column of the other's metrics (no θ*: no errors against it).
TABLE_METRICS = (
    "final_objective",
    "final_theta_median",
    "steps_to_tolerance",
    "final_rms_error",
    "stationary_rms",
    "path_length_ratio",
    "wall_seconds",
)
#: A cell without a value, where the final line leaves the key out (``summary.line_value``).
NO_VALUE = "–"
#: What the ELBO columns mean, said where a sweep has them (J is −ELBO).
ELBO_NOTE = (
    " Final ELBO: the exact ELBO at the last step, the mean over the live replicates; in brackets "
    "the best mean-field ELBO, a constant of the model; ELBO gap: best − final, in nats."
)


def cell(row: dict[str, Any], key: str, digits: int = 3) -> str:
    """'median [min, max]', with ∞ shown as 'never' (a tolerance some seed never reached) and no
    value as '–' (the metric does not apply, or nothing was left to measure)."""

    def fmt(value: float | None) -> str:
        if value is None:
            return NO_VALUE
        if math.isinf(value):
            return NEVER
        return str(int(value)) if value == int(value) and abs(value) < 1e6 else f"{value:.{digits}g}"

    median, low, high = (row.get(f"{key}_{s}") for s in ("median", "min", "max"))
    return fmt(median) if low == high else f"{fmt(median)} [{fmt(low)}, {fmt(high)}]"


def sigma_cell(row: dict[str, Any]) -> str:
    """The final mean σ over live replicates (median over seeds) and σ* where it has a closed form."""
    if "final_sigma_mean_median" not in row:
        return NO_VALUE
    star = row.get("sigma_star")
    if isinstance(star, list):  # one σ* per coordinate: their mean, as final_sigma_mean is
        star = sum(star) / len(star)
    return f"{cell(row, 'final_sigma_mean')} ({NO_VALUE if star is None else f'{star:.3g}'})"


def elbo_cell(row: dict[str, Any]) -> str:
    """The exact ELBO at the end (median over seeds) and the best mean-field ELBO, where J is −ELBO."""
    if "final_elbo_median" not in row:
        return NO_VALUE
    best = row.get("optimal_elbo")
    return f"{cell(row, 'final_elbo', DIGITS['final_elbo'])} ({NO_VALUE if best is None else f'{best:.6g}'})"


def diverged_cell(row: dict[str, Any]) -> str:
    """Diverged replicates out of all, where some job of the configuration finished."""
    if row["jobs"] == row["failed"]:
        return NO_VALUE
    total, replicates = row["diverged_total"], row["replicates_total"]
    if not replicates:
        return str(total)
    return f"{total}/{replicates} ({100 * total / replicates:.1f}%)"


def markdown(rows: list[dict[str, Any]], failed: list[tuple[str, str]], sweep_dir: Path) -> str:
    """The human-readable summary: one row per configuration, then the failed jobs."""
    scale = any("final_sigma_mean_median" in row for row in rows)
    elbo = any("final_elbo_median" in row for row in rows)
    metrics = [k for k in TABLE_METRICS if any(row.get(f"{k}_median") is not None for row in rows)]
    head = [
        "configuration",
        "seeds",
        *metrics,
        *(["final σ (σ*)"] if scale else []),
        *(["final ELBO (best mean-field)", "ELBO gap (nats)"] if elbo else []),
        "diverged replicates",
        "failed jobs",
    ]
    lines = [
        f"# Sweep summary: {sweep_dir}",
        "",
        "One row per configuration (jobs differing only in `seed`); each metric is the median "
        f"over seeds with [min, max]. `{NEVER}`: the RMS error did not settle below the tolerance. "
        f"`{NO_VALUE}`: no value: the metric does not apply to the configuration (no θ*, or not the "
        "Bernoulli family), no job of it finished, or no replicate was left to measure it."
        + (ELBO_NOTE if elbo else ""),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in rows:
        cells = [
            row["configuration"],
            row["seeds"] or NO_VALUE,
            *(cell(row, k, DIGITS.get(k, 3)) for k in metrics),
            *([sigma_cell(row)] if scale else []),
            *([elbo_cell(row), cell(row, "elbo_gap")] if elbo else []),
            diverged_cell(row),
            str(row["failed"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if failed:
        lines += ["", f"## Failed jobs ({len(failed)})", ""]
        lines += [f"- `{path}`: {problem}" for path, problem in failed]
    lines += ["", "![comparison](comparison.png)", ""]
    return "\n".join(lines)


def styled_curves(groups: list[ConfigGroup], keys: list[str]) -> list[ConfigCurves]:
    """Each finished configuration's curves: a colour per estimator (or first varying key), shades within."""
    hue_key = "estimator" if "estimator" in keys else (keys[0] if keys else "")
    rest = [k for k in keys if k != hue_key]
    combos = sorted(
        {tuple(g.overrides.get(k) for k in rest) for g in groups}, key=lambda c: [natural(v) for v in c]
    )
    shade = {c: (i + 1) / len(combos) for i, c in enumerate(combos)}
    return [
        curves(
            g,
            label(g, keys),
            str(g.overrides.get(hue_key, "")),
            shade[tuple(g.overrides.get(k) for k in rest)],
        )
        for g in groups
        if g.finished
    ]


def table_rows(groups: list[ConfigGroup], keys: list[str]) -> list[dict[str, Any]]:
    """One row per configuration: its label, its value of each varying key, its aggregates."""
    return [
        {"configuration": label(g, keys), **{k: g.overrides.get(k) for k in keys}, **aggregate(g)}
        for g in groups
    ]


def write_report(sweep_dir: Path) -> list[tuple[str, str]]:
    """Summarise ``sweep_dir`` into itself; return its failed jobs as (path, problem).

    A sweep with no jobs gets a summary saying so.
    """
    groups = group_jobs(find_jobs(sweep_dir))
    keys = varying_keys(groups)
    rows = table_rows(groups, keys)
    failed = [(str(j.path.relative_to(sweep_dir)), j.problem or "") for g in groups for j in g.failed]
    for path, problem in failed:
        log.warning("job %s failed: %s", path, problem)

    ordered = [
        "configuration",
        *keys,
        "jobs",
        "failed",
        "seeds",
        *(f"{m}_{s}" for m in (*METRIC_KEYS, "wall_seconds") for s in ("median", "min", "max")),
        *(
            [f"{m}_{s}" for m in ("final_objective", "final_theta_median") for s in ("median", "min", "max")]
            if any("final_objective_median" in row for row in rows)
            else []
        ),
        *(
            [*(f"final_sigma_mean_{s}" for s in ("median", "min", "max")), "sigma_star"]
            if any("sigma_star" in row for row in rows)
            else []
        ),
        *(
            [*(f"{m}_{s}" for m in ELBO_METRICS for s in ("median", "min", "max")), *ELBO_CONSTANTS]
            if any("optimal_elbo" in row for row in rows)
            else []
        ),
        "diverged_total",
        "replicates_total",
    ]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=ordered, restval="")
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(sweep_dir / "summary.csv", table.getvalue())
    text = markdown(rows, failed, sweep_dir)
    steps = step_size_rows(groups, keys)
    if steps:
        text += (
            "\n## Step sizes\n\nPer estimator and D, the step size with the lowest final RMS error of μ "
            "per coordinate among those where no replicate diverged.\n\n"
            f"{best_step_table(steps)}\n\n![step sizes](step_sizes.png)\n"
        )
    write_atomically(sweep_dir / "summary.md", text)

    figure = comparison_figure(
        styled_curves(groups, keys),
        f"Sweep comparison: {sweep_dir.name} ({sum(len(g.jobs) for g in groups)} jobs)",
    )
    figure.savefig(sweep_dir / "comparison.png", dpi=110)
    step_figure = None
    if steps:
        step_figure = step_size_figure(steps, f"Step sizes: {sweep_dir.name}")
        step_figure.savefig(sweep_dir / "step_sizes.png", dpi=110)
    with SummaryWriter(log_dir=str(sweep_dir / BOARD_DIR)) as board:
        board.add_figure("sweep/comparison", figure)
        if step_figure is not None:
            board.add_figure("sweep/step_sizes", step_figure)
        board.add_text("sweep/summary", text)
    log.info(
        "sweep summary: %s (%d configurations, %d failed jobs)",
        sweep_dir / "summary.md",
        len(rows),
        len(failed),
    )
    return failed
