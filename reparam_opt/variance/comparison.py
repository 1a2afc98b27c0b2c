"""Compare the variance-reduction tricks of variance-study multiruns: the Hydra callback
``VarianceComparison`` (``conf/variance.yaml``) and ``python -m reparam_opt.variance.comparison
SWEEP_DIR [SWEEP_DIR ...] [--out DIR]``, which joins several sweeps (say, one per objective).

A trick can win by a constant factor (its ratio to iid draws without a control variate at the same
estimator, setting and point) or by a rate (the log-log slope against n: −1 for independent draws,
steeper for randomised quasi-Monte Carlo on a smooth integrand); the second compounds with n, so
both are reported. Only the jobs' ``variance.csv`` and ``.hydra/`` are read, so any launcher works
and nothing re-runs; a job without a readable CSV is named and skipped, never fatal.
"""

from __future__ import annotations

import csv
import logging
import math
import textwrap
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)

#: The reference every trick is divided by, listed and drawn first.
BASE = ("iid", "none")
#: Overrides that set how finely a point is measured, not which point: never part of a setting.
NOT_SETTING = ("sweep.points", "repetitions", "chunk_elements", "confidence", "device")
#: A variance this small against the mean's square is rounding of an exact gradient (antithetic
#: pathwise on the square; float32 rounding gives about 1e-14): reported as 0, left out of the slopes.
ROUNDING = 1e-12
COLUMNS = ("variance", "scale_variance")
NO_CSV = "no variance.csv: the job failed (its error went to the sweep's stderr), was killed, or is running"

#: A multirun job refused by a check writes its one line here (``reparam_opt/variance/__main__.py``).
FAILED = "failed.txt"

Row = dict[str, Any]


def overrides_of(job: Path) -> dict[str, str]:
    """The job's task overrides as key → value (``+``/``~`` dropped)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    raw = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) or []
    parsed = OverridesParser.create().parse_overrides(raw)
    return {o.get_key_element().lstrip("+~"): o.get_value_element_as_str() for o in parsed}


def settings_of(job: Path, overrides: dict[str, str], keys: list[str]) -> dict[str, str | None]:
    """Each key's override in the job, else its group's choice (``objective=square``, from
    ``.hydra/hydra.yaml``); numbers written alike (2 and 2.0 are one setting)."""
    try:
        choices = yaml.safe_load((job / ".hydra" / "hydra.yaml").read_text())["hydra"]["runtime"]["choices"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        choices = {}
    values = {key: overrides.get(key, choices.get(key)) for key in keys}
    return {k: f"{number(v):g}" if isinstance(number(v), float) else v for k, v in values.items()}


def number(text: Any) -> Any:
    try:
        return None if text in ("", None) else float(text)
    except (TypeError, ValueError):
        return text


def read_rows(job: Path) -> list[Row]:
    """The job's variance.csv with numbers as floats; OSError or ValueError where it has none."""
    with open(job / "variance.csv", newline="") as f:
        rows = [{k: number(v) for k, v in row.items()} for row in csv.DictReader(f)]
    if not rows or any(not isinstance(r.get("variance"), float) for r in rows):
        raise ValueError("variance.csv has no rows with a variance")
    return rows


def trick(row: Row, overrides: dict[str, str]) -> tuple[str, str]:
    """(draws, control variate) from the CSV's columns, else the overrides, else iid and none; each
    with its overridden options, as ``sobol(scrambles=4)``."""
    names = []
    for group, default in zip(("draws", "control_variate"), BASE):
        name = row.get(group) or overrides.get(group) or default
        options = [f"{k.split('.', 1)[1]}={v}" for k, v in overrides.items() if k.startswith(group + ".")]
        names.append(f"{name}({','.join(options)})" if options else str(name))
    return names[0], names[1]


def is_setting(key: str) -> bool:
    trick_key = key.split(".")[0] in ("draws", "control_variate")
    return not (trick_key or key in NOT_SETTING or key.startswith(("estimator@", "hydra.")))


def collect(sweep_dirs: list[Path]) -> tuple[list[Row], list[tuple[Path, str]]]:
    """Every job's rows labelled with its setting (the overrides that differ between jobs, less the
    trick's) and trick, with the ratio to the base; and the jobs skipped, with the reason."""
    jobs, missing = [], []
    for sweep_dir in map(Path, sweep_dirs):
        for job in sorted({p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml")} - {sweep_dir}):
            try:
                jobs.append((job, overrides_of(job), read_rows(job)))
            except FileNotFoundError:
                failed = job / FAILED
                missing.append((job, failed.read_text().strip() if failed.exists() else NO_CSV))
            except (OSError, ValueError, csv.Error, yaml.YAMLError) as error:
                missing.append((job, (str(error) or type(error).__name__).splitlines()[0]))
            else:
                continue
            log.warning("skipping variance job %s: %s", job, missing[-1][1])
    # the objective's keys first: a setting's label then reads as the objective it is on
    keys = sorted({k for _, o, _ in jobs for k in o if is_setting(k)}, key=lambda k: (k[:3] != "obj", k))
    settings = [settings_of(job, overrides, keys) for job, overrides, _ in jobs]
    varying = [k for k in keys if len({s[k] for s in settings}) > 1]
    rows = []
    for (_, overrides, job_rows), setting in zip(jobs, settings):
        for row in job_rows:
            row["setting"] = ",".join(f"{k}={setting[k]}" for k in varying if setting[k] is not None)
            row["trick"] = trick(row, overrides)
            for column in COLUMNS:
                if isinstance(row.get(column), float) and row[column] <= ROUNDING * max(
                    (row.get("mean") or 0) ** 2, 1
                ):
                    row[column] = 0.0
            rows.append(row)
    base = {(r["setting"], r["estimator"], r["value"]): r for r in rows if r["trick"] == BASE}
    for row in rows:
        reference = base.get((row["setting"], row["estimator"], row["value"]), {})
        for column in COLUMNS:
            low, mine = reference.get(column), row.get(column)
            row[f"{column}_ratio"] = mine / low if isinstance(mine, float) and low else None
    return rows, missing


def groups(rows: list[Row]) -> dict[tuple, list[Row]]:
    """(setting, estimator, trick) → its rows by point: settings and estimators in order of
    appearance, tricks the base first and then by name."""
    found: dict[tuple, list[Row]] = {}
    for row in rows:
        found.setdefault((row["setting"], row["estimator"], row["trick"]), []).append(row)
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    estimators = list(dict.fromkeys(r["estimator"] for r in rows))
    order = sorted(found, key=lambda k: (settings.index(k[0]), estimators.index(k[1]), k[2] != BASE, k[2]))
    return {k: sorted(found[k], key=lambda r: r["value"]) for k in order}


def slope(rows: list[Row], column: str = "variance") -> float | None:
    """The log-log slope of ``column`` against n (``tricks.slopes``: points > 0, at least two), or None."""
    from reparam_opt.variance.tricks import slopes

    value = slopes(rows, column).get(rows[0]["estimator"]) if rows[0]["parameter"] == "n_samples" else None
    return value if value is not None and math.isfinite(value) else None


def cell(value: Any, spec: str = ".3g") -> str:
    return "–" if value is None else format(value, spec)


def table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(line) + " |" for line in (header, ["---"] * len(header), *body)]


def markdown(rows: list[Row], missing: list[tuple[Path, str]], sources: list[Path]) -> str:
    """comparison.md: the variances and their ratio to iid/none, the slopes, the skipped jobs."""
    parameter = rows[0]["parameter"] if rows else "n_samples"
    learned = any(isinstance(r.get("scale_variance"), float) for r in rows)
    per = " per coordinate" if any((r.get("dim") or 1) > 1 for r in rows) else ""
    setting = any(r["setting"] for r in rows)
    keys = ["setting"] * setting + ["estimator", "draws", "control variate"]

    def label(key: tuple) -> list[str]:
        return [key[0]] * setting + [key[1], *key[2]]

    lines = [
        "# Variance-reduction comparison",
        "",
        f"{', '.join(map(str, sources))}: the variance of the gradient estimate{per}, of μ (and of "
        "log σ where q's scale is learned), 0 where it is rounding of an exact gradient; its ratio to "
        "iid draws without a control variate at the same estimator, setting and point; the interval "
        "(the study's `confidence`, on μ).",
        "",
    ]
    fields = ["variance", "ci_low", "ci_high", "variance_ratio", "scale_variance", "scale_variance_ratio"]
    fields = fields[: 6 if learned else 4]
    header = [*keys, parameter, "μ variance", "interval low", "high", "ratio to iid/none"]
    body = [
        [*label(k), f"{r['value']:g}", *(cell(r.get(f)) for f in fields)]
        for k, m in groups(rows).items()
        for r in m
    ]
    lines += table(header + ["log σ variance", "ratio"] * learned, body)
    slopes = {k: [slope(m, c) for c in COLUMNS[: 1 + learned]] for k, m in groups(rows).items()}
    if any(v is not None for values in slopes.values() for v in values):  # a sweep of n
        body = [label(key) + [cell(v, ".2f") for v in values] for key, values in slopes.items()]
        lines += ["", "## Log-log slope of the variance against n", ""]
        lines += table([*keys, "μ slope"] + ["log σ slope"] * learned, body)
    if missing:
        lines += ["", "## Jobs without a variance.csv (skipped)", ""]
        lines += [f"- `{path}`: {reason}" for path, reason in missing]
    return "\n".join(lines) + "\n"


def comparison_figure(rows: list[Row]) -> Any:
    """The variance against the swept parameter (log-log along n): a panel per setting × estimator,
    a line per trick in one colour in every panel, its μ slope in the legend."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    found = groups(rows)
    settings, estimators, tricks = (list(dict.fromkeys(k[i] for k in found)) for i in range(3))
    fig, axes = plt.subplots(len(settings), len(estimators), squeeze=False, layout="constrained")
    fig.set_size_inches(4.2 * len(estimators), 3.3 * len(settings))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    parameter = rows[0]["parameter"]
    for (setting, estimator, name), mine in found.items():
        ax = axes[settings.index(setting), estimators.index(estimator)]
        kept = [r for r in mine if r["variance"] > 0]
        value = slope(mine)
        label = " + ".join(part for part in name if part not in BASE) or BASE[0]
        label += ": variance 0" if not kept else "" if value is None else f": slope {value:.2f}"
        colour = colours[tricks.index(name) % len(colours)]
        ax.plot([r["value"] for r in kept], [r["variance"] for r in kept], "o-", color=colour, label=label)
        ax.set_title("\n".join([estimator, *textwrap.wrap(setting.replace(",", ", "), 56)]), fontsize=9)
    per = " per coordinate" if any((r.get("dim") or 1) > 1 for r in rows) else ""
    what = f"against {'n' if parameter == 'n_samples' else parameter}"
    what += "; legend: log-log slope" if any(slope(m) is not None for m in found.values()) else ""
    fig.suptitle(f"Variance of the gradient estimate{per}, each trick {what}", fontsize=10)
    for ax in axes.flat:
        ax.set_xscale("log" if parameter in ("n_samples", "dim") else "linear")
        values = sorted({float(x) for line in ax.lines for x in line.get_xdata()})
        ax.set_xticks(values, [f"{v:g}" for v in values], minor=False)
        ax.set_xticks([], minor=True)
        ax.set_yscale("log" if any(len(line.get_ydata()) for line in ax.lines) else "linear")
        ax.set_xlabel("n, samples per estimate" if parameter == "n_samples" else parameter, fontsize=8)
        ax.set_ylabel(f"variance of the estimate{per}", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def write_comparison(sweep_dirs: list[Path], out_dir: Path) -> list[tuple[Path, str]]:
    """Write comparison.md and (where a job has rows) comparison.png; return the jobs skipped."""
    rows, missing = collect(sweep_dirs)
    (out_dir / "comparison.md").write_text(markdown(rows, missing, sweep_dirs))
    if rows:
        import matplotlib.pyplot as plt

        fig = comparison_figure(rows)
        fig.savefig(out_dir / "comparison.png", dpi=110)
        plt.close(fig)
    log.info("wrote the variance comparison to %s", out_dir / "comparison.md")
    return missing


class VarianceComparison(Callback):
    """Write comparison.md and comparison.png into the sweep directory when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            missing = write_comparison([sweep_dir], sweep_dir)
        except Exception as error:  # the jobs' own outputs stand: one warning
            log.warning("could not write the variance comparison in %s: %s", sweep_dir, error)
            return
        if missing:  # the comparison is written; now the sweep reports its failed jobs and exits 1
            log.error("%d variance job(s) failed; see %s", len(missing), sweep_dir / "comparison.md")
            # Hydra turns a callback's exception into a warning; SystemExit is not an Exception.
            raise SystemExit(1)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m reparam_opt.variance.comparison")
    parser.add_argument("sweep_dirs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, help="where to write (default: the first SWEEP_DIR)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_comparison(args.sweep_dirs, args.out or args.sweep_dirs[0])
