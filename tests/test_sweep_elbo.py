"""The sweep summary where J is −ELBO: the ELBO's columns in summary.md and summary.csv, and the
comparison figure's ELBO panels, only where the runs have the ELBO. From real runs (``train``) of
the linear regression laid out as a sweep's job directories (slow), and the panels' axes from
curves made by hand (fast)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib import pyplot as plt

from reparam_opt.sweep_summary import figure as figure_module
from reparam_opt.sweep_summary.elbo_panel import elbo_limits, elbo_panels, fit_step
from reparam_opt.sweep_summary.figure import comparison_figure
from reparam_opt.sweep_summary.jobs import ConfigCurves, find_jobs, group_jobs, varying_keys
from reparam_opt.sweep_summary.report import NO_VALUE, markdown, styled_curves, table_rows, write_report
from reparam_opt.training import train
from tests.conftest import compose_config, scalars

#: J is −ELBO: a model's negative log joint, σ learned per coordinate, the entropy's weight 1.
ELBO_RUN = (
    "objective=linear_regression",
    "scale=diagonal",
    "entropy_weight=1",
    "estimator=pathwise",
    "optimizer=adam",
    "lr=0.05",
    "theta0=0",
    "steps=10",
    "replicates=4",
)
PLAIN_RUN = ("objective=square", "steps=3", "replicates=8")
SEEDS = (0, 1)
ELBO_COLUMNS = ("final ELBO (best mean-field)", "ELBO gap (nats)")
ELBO_TITLES = ("exact ELBO", "gap to the best mean-field ELBO")


def lay_out(root: Path, name: str, overrides: tuple[str, ...]) -> Path:
    """One job per seed of ``SEEDS`` in ``root``/``name``, each with the overrides Hydra would
    record (``+job=name`` tells the sweeps apart where they are read together)."""
    for seed in SEEDS:
        job = root / name / f"seed={seed}"
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"+job={name}", f"seed={seed}"]))
        train(compose_config("config", *overrides, f"seed={seed}"), job)
    return root / name


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two sweeps of two seeds each: one where J is −ELBO, one on the square (no ELBO)."""
    root = tmp_path_factory.mktemp("sweeps")
    return {"elbo": lay_out(root, "elbo", ELBO_RUN), "plain": lay_out(root, "plain", PLAIN_RUN)}


def summaries(sweep: Path) -> list[dict]:
    return [json.loads((sweep / f"seed={seed}" / "summary.json").read_text()) for seed in SEEDS]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path) as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def md_table(text: str) -> list[dict[str, str]]:
    lines = [line.strip("|").split(" | ") for line in text.splitlines() if line.startswith("| ")]
    head = [cell.strip() for cell in lines[0]]
    return [dict(zip(head, (cell.strip() for cell in row))) for row in lines[1:]]


def configs_of(sweep: Path) -> list[ConfigCurves]:
    groups = group_jobs(find_jobs(sweep))
    return styled_curves(groups, varying_keys(groups))


def titles(fig: plt.Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


@pytest.mark.slow
def test_elbo_columns_carry_the_summaries(sweeps: dict[str, Path]) -> None:
    write_report(sweeps["elbo"])
    jobs = summaries(sweeps["elbo"])
    assert all(job["status"] == "completed" for job in jobs)
    (optimum,) = {job["optimal_elbo"] for job in jobs}
    (evidence,) = {job["log_evidence"] for job in jobs}
    _, (row,) = read_csv(sweeps["elbo"] / "summary.csv")
    for key in ("final_elbo", "elbo_gap"):
        values = [job[key] for job in jobs]
        assert float(row[f"{key}_median"]) == pytest.approx(np.median(values), rel=1e-12), key
        assert (float(row[f"{key}_min"]), float(row[f"{key}_max"])) == (min(values), max(values)), key
    assert float(row["optimal_elbo"]) == optimum and float(row["log_evidence"]) == evidence
    text = (sweeps["elbo"] / "summary.md").read_text()
    (cells,) = md_table(text)
    final = [job["final_elbo"] for job in jobs]
    gap = [job["elbo_gap"] for job in jobs]
    assert cells["final ELBO (best mean-field)"] == (
        f"{np.median(final):.6g} [{min(final):.6g}, {max(final):.6g}] ({optimum:.6g})"
    )
    assert cells["ELBO gap (nats)"] == f"{np.median(gap):.3g} [{min(gap):.3g}, {max(gap):.3g}]"
    assert "best mean-field ELBO" in text.split("|")[0]  # the columns are explained


@pytest.mark.slow
def test_a_sweep_without_the_elbo_gets_no_elbo_column(sweeps: dict[str, Path]) -> None:
    write_report(sweeps["plain"])
    fields, _ = read_csv(sweeps["plain"] / "summary.csv")
    assert not [f for f in fields if "elbo" in f or f == "log_evidence"]
    assert "ELBO" not in (sweeps["plain"] / "summary.md").read_text()
    # Beside a configuration that has them, one without the ELBO reads '–' in its columns.
    groups = group_jobs(find_jobs(sweeps["plain"].parent))
    rows = table_rows(groups, varying_keys(groups))
    by_label = {row["configuration"]: row for row in md_table(markdown(rows, [], sweeps["plain"].parent))}
    plain, elbo = by_label["job=plain"], by_label["job=elbo"]
    assert [plain[column] for column in ELBO_COLUMNS] == [NO_VALUE, NO_VALUE]
    assert NO_VALUE not in [elbo[column] for column in ELBO_COLUMNS]


@pytest.mark.slow
def test_the_figure_has_elbo_panels_only_where_the_runs_logged_the_elbo(
    sweeps: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = summaries(sweeps["elbo"])
    (config,) = configs_of(sweeps["elbo"])
    assert config.optimal_elbo == jobs[0]["optimal_elbo"]
    logged = [dict(scalars(sweeps["elbo"] / f"seed={seed}")["elbo/value"]) for seed in SEEDS]
    steps, values = config.series["elbo/value"]
    assert list(steps) == sorted(logged[0])
    assert values == pytest.approx([np.median([one[s] for one in logged]) for s in steps], rel=1e-6)
    assert {"elbo/q05", "elbo/q95"} <= config.series.keys()

    (plain,) = configs_of(sweeps["plain"])
    assert "elbo/value" not in plain.series and plain.optimal_elbo is None
    normal = comparison_figure([plain], "plain")
    assert len(normal.axes) == 3  # θ, its RMS error, the in-step variance: as before the ELBO
    assert not [t for t in titles(normal) if "ELBO" in t]

    with_elbo = comparison_figure([config], "elbo")
    monkeypatch.setattr(figure_module, "elbo_panels", lambda configs: [])
    without = comparison_figure([config], "elbo")
    assert len(with_elbo.axes) == len(without.axes) + 2
    (elbo_ax,) = [ax for ax in with_elbo.axes if ax.get_title().startswith(ELBO_TITLES[0])]
    (gap_ax,) = [ax for ax in with_elbo.axes if ax.get_title().startswith(ELBO_TITLES[1])]
    low, high = elbo_ax.get_ylim()
    assert elbo_ax.get_yscale() == "linear" and gap_ax.get_yscale() == "log"
    assert low < values[-1] < config.optimal_elbo < high  # the optimum in view, a little below the top
    assert high - config.optimal_elbo < 0.2 * (high - low)
    assert values[0] < low and "off the axis" in elbo_ax.get_title()  # the start, far below
    dashed = [line for line in elbo_ax.get_lines() if line.get_linestyle() == "--"]
    assert [list(line.get_ydata()) for line in dashed] == [[config.optimal_elbo] * 2]
    assert [t.get_text() for t in elbo_ax.get_legend().get_texts()] == ["best mean-field ELBO"]
    (gap,) = gap_ax.get_lines()
    assert gap.get_ydata() == pytest.approx(config.optimal_elbo - values)
    for fig in (normal, with_elbo, without):
        plt.close(fig)


def rising(optimum: float | None, label: str = "run", steps: int = 100) -> ConfigCurves:
    """An ELBO from 2500 nats below ``optimum`` (or −546.6) up to 1 nat below it, with a band."""
    at = np.arange(steps + 1)
    best = -546.6 if optimum is None else optimum
    mean = best - 1.0 - 2500.0 * np.exp(-at / 8.0)
    series = {"elbo/value": (at, mean), "elbo/q05": (at, mean - 0.5), "elbo/q95": (at, mean + 0.5)}
    return ConfigCurves(label, hue="pathwise", series=series, optimal_elbo=optimum)


def test_elbo_panels_need_the_elbo_and_the_gap_its_optimum() -> None:
    plain = ConfigCurves("plain", series={"theta/mean": (np.arange(3), np.zeros(3))})
    assert elbo_panels([plain]) == []
    assert elbo_panels([plain, rising(None)]) == ["elbo/value"]
    assert elbo_panels([plain, rising(-546.6)]) == ["elbo/value", "elbo/gap"]


def test_the_elbo_axis_holds_the_approach_and_the_optimum_not_the_start() -> None:
    config = rising(-546.6)
    low, high = elbo_limits([config])
    assert fit_step([config]) == 15
    steps, mean = config.series["elbo/value"]
    assert low < mean[steps == 15][0] - 0.5 and low > -2000  # the approach from step 15 on, not the start
    assert -546.6 < high < -546.6 + 0.1 * (high - low)  # the optimum, a little below the top
