"""A sweep's jobs, read back from what they wrote, grouped into configurations and aggregated.

Only each job's ``summary.json``, ``.hydra/overrides.yaml`` and TensorBoard event files are
read, so this works with any launcher and re-runs nothing. Jobs that differ only in ``seed`` form
one configuration. A job without a complete summary.json is recorded as failed, never raised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from reparam_opt.sweep_summary.stability import harmonic_sigma
from reparam_opt.training.summary import METRIC_KEYS, THETA_STAR_METRICS, has_theta_star

log = logging.getLogger(__name__)

#: The override that tells repeats of one configuration apart.
SEED_KEY = "seed"
#: What a job directory without summary.json means: a job that cannot save itself (SIGKILL, the
#: OOM killer) leaves Hydra's .hydra/ and no summary.json; every other ending writes one.
KILLED = "no summary.json: the job was probably killed (SIGKILL or the OOM killer), or is still running"
#: Statuses of a job that ran to its end (``diverged``: every replicate did); any other is a failure.
FINISHED = ("completed", "diverged")
#: The scalar series the comparison figure draws, each a median over a configuration's seeds.
CURVE_TAGS = (
    "theta/mean",
    "theta/q05",
    "theta/q95",
    "theta/rms_error",
    "grad/variance",
    "theta/diverged",
    "scale/mean",
    "scale/q05",
    "scale/q95",
    "objective/mean",
    "grad/log_variance",
    "grad/log_variance_analytic",
    "prob/mean",
    "elbo/value",
    "elbo/q05",
    "elbo/q95",
)
#: Where J is −ELBO (a model's objective, λ = 1): the end-of-run ELBO metrics, each aggregated over
#: the seeds; and the constants of the model, the best mean-field ELBO and log p(y) (may be null).
ELBO_METRICS = ("final_elbo", "elbo_gap")
ELBO_CONSTANTS = ("optimal_elbo", "log_evidence")

#: A logged step (one with ``objective/mean``) that has no ln variance had every sample variance 0.
LN_ZERO = "grad/log_variance"


@dataclass
class ConfigCurves:
    """One configuration's curves, read from its jobs' event files: (steps, values) pairs."""

    label: str
    #: Colour family (one per value of the first varying key) and shade within it (0 light to 1 dark).
    hue: str = ""
    shade: float = 1.0
    #: Median over seeds of each tag of ``CURVE_TAGS`` that was logged; ``theta/diverged`` as a
    #: percentage of the replicates; ``grad/log_variance`` −∞ at a logged step where it was ln 0.
    series: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    #: The ``tolerance`` that ``steps_to_tolerance`` waited for, where the jobs agree on one.
    tolerance: float | None = None
    #: A learned σ's predicted path (σ* where J_λ has one, the harmonic decay on the bare J).
    sigma_prediction: tuple[np.ndarray, np.ndarray] | None = None
    #: The best mean-field ELBO where J is −ELBO and the model has it (``optimal_elbo``), else None.
    optimal_elbo: float | None = None


@dataclass
class Job:
    """One job directory: its overrides, and its summary.json if the job finished writing one."""

    path: Path
    overrides: dict[str, str]
    summary: dict[str, Any] | None
    problem: str | None = None

    @property
    def seed(self) -> str:
        return self.overrides.get(SEED_KEY, "default")


@dataclass
class ConfigGroup:
    """The jobs of one configuration: the same overrides except the seed."""

    overrides: dict[str, str]
    jobs: list[Job] = field(default_factory=list)

    @property
    def finished(self) -> list[Job]:
        return sorted((j for j in self.jobs if j.summary is not None), key=lambda j: j.seed)

    @property
    def failed(self) -> list[Job]:
        return [j for j in self.jobs if j.summary is None]


def read_job(path: Path) -> Job:
    """Parse the overrides and summary.json of the job in ``path``; any problem is recorded, not raised."""
    raw = yaml.safe_load((path / ".hydra" / "overrides.yaml").read_text()) or []
    parsed = OverridesParser.create().parse_overrides(raw)
    overrides = {o.get_key_element().lstrip("+~"): o.get_value_element_as_str() for o in parsed}
    summary_path = path / "summary.json"
    if not summary_path.exists():
        return Job(path, overrides, None, KILLED)
    try:
        summary = json.loads(summary_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return Job(path, overrides, None, f"unreadable summary.json ({err})")
    missing = [k for k in ("status", *METRIC_KEYS) if k not in summary]
    if missing:
        return Job(path, overrides, None, f"summary.json lacks {', '.join(missing)}")
    if summary["status"] not in FINISHED:
        reason = f"status={summary['status']}"
        return Job(path, overrides, None, f"{reason}: {summary['error']}" if summary.get("error") else reason)
    return Job(path, overrides, summary)


def find_jobs(sweep_dir: Path) -> list[Job]:
    """Every job directory under the sweep (any subdir layout): those holding ``.hydra/overrides.yaml``."""
    found = sorted(p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml"))
    return [read_job(p) for p in found if p != sweep_dir]


def natural(value: str | None) -> tuple:
    """Sort numbers as numbers (2 < 8 < 32) and before words."""
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def group_jobs(jobs: list[Job]) -> list[ConfigGroup]:
    """Jobs that differ only in the seed, together, ordered by their overrides (numbers numerically)."""
    groups: dict[tuple, ConfigGroup] = {}
    for job in jobs:
        rest = {k: v for k, v in job.overrides.items() if k != SEED_KEY}
        groups.setdefault(tuple(sorted(rest.items())), ConfigGroup(rest)).jobs.append(job)
    keys = sorted({k for g in groups.values() for k in g.overrides})
    return sorted(groups.values(), key=lambda g: [natural(g.overrides.get(k)) for k in keys])


def varying_keys(groups: list[ConfigGroup]) -> list[str]:
    """The override keys whose value differs between configurations (the others say nothing)."""
    keys = sorted({k for g in groups for k in g.overrides})
    return [k for k in keys if len({g.overrides.get(k) for g in groups}) > 1]


def label(group: ConfigGroup, keys: list[str]) -> str:
    return ",".join(f"{k}={group.overrides.get(k, '(default)')}" for k in keys) or "all jobs"


def metric_stats(values: list[float | None], missing_is_never: bool) -> dict[str, float | None]:
    """Median, min and max over the seeds; a None is 'never' (∞) for steps_to_tolerance, else skipped."""
    numbers = (
        [np.inf if v is None else float(v) for v in values]
        if missing_is_never
        else [float(v) for v in values if v is not None]
    )
    if not numbers:
        return {"median": None, "min": None, "max": None}
    return {"median": float(np.median(numbers)), "min": float(np.min(numbers)), "max": float(np.max(numbers))}


def aggregate(group: ConfigGroup) -> dict[str, Any]:
    """One configuration's row: job counts, every metric's median and spread, diverged replicates."""
    done = group.finished
    row: dict[str, Any] = {
        "jobs": len(group.jobs),
        "failed": len(group.failed),
        "seeds": " ".join(j.seed for j in done),
    }
    for key in (*METRIC_KEYS, "wall_seconds"):
        # Against θ*, only the jobs that have one: a job without θ* has no tolerance to miss.
        measured = [j for j in done if key not in THETA_STAR_METRICS or has_theta_star(j.summary)]
        values = [j.summary.get(key) for j in measured]
        stats = metric_stats(values, missing_is_never=key == "steps_to_tolerance")
        row.update({f"{key}_{stat}": value for stat, value in stats.items()})
    for key in ("final_objective", "final_theta_median"):  # the Bernoulli family, which has no θ*
        if any(key in j.summary for j in done):
            stats = metric_stats([j.summary.get(key) for j in done], missing_is_never=False)
            row.update({f"{key}_{stat}": value for stat, value in stats.items()})
    if any("final_sigma_mean" in j.summary for j in done):  # a learned scale
        stats = metric_stats([j.summary.get("final_sigma_mean") for j in done], missing_is_never=False)
        row.update({f"final_sigma_mean_{stat}": value for stat, value in stats.items()})
        row["sigma_star"] = done[0].summary.get("sigma_star")
    if any("final_elbo" in j.summary for j in done):  # J is −ELBO
        for key in ELBO_METRICS:
            stats = metric_stats([j.summary.get(key) for j in done], missing_is_never=False)
            row.update({f"{key}_{stat}": value for stat, value in stats.items()})
        row.update({key: model_constant(done, key) for key in ELBO_CONSTANTS})
    replicates = [j.summary.get("config", {}).get("replicates") for j in done]
    row["diverged_total"] = sum(int(j.summary["diverged"]) for j in done)
    row["replicates_total"] = sum(replicates) if all(isinstance(r, int) for r in replicates) else None
    return row


def scalar_series(run_dir: Path, tags: Iterable[str]) -> dict[str, dict[int, float]]:
    """The scalar ``tags`` of one job's event files, through tensorboard's EventAccumulator."""
    quiet = logging.getLogger("tensorboard")  # one "No path found after ..." line per file otherwise
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
        acc.Reload()
    finally:
        quiet.setLevel(level)
    present = set(acc.Tags()["scalars"])
    return {tag: {e.step: e.value for e in acc.Scalars(tag)} if tag in present else {} for tag in tags}


def curves(group: ConfigGroup, name: str, hue: str = "", shade: float = 1.0) -> ConfigCurves:
    """Each series of ``CURVE_TAGS`` as its median over the configuration's finished seeds."""
    result = ConfigCurves(name, hue, shade)
    done = group.finished
    read = [scalar_series(j.path, CURVE_TAGS) for j in done]
    for job, logged in zip(done, read):
        replicates = job.summary.get("config", {}).get("replicates")
        if isinstance(replicates, int) and replicates > 0:
            logged["theta/diverged"] = {
                s: 100.0 * v / replicates for s, v in logged["theta/diverged"].items()
            }
    tolerances = {j.summary.get("config", {}).get("tolerance") for j in done}
    result.tolerance = tolerances.pop() if len(tolerances) == 1 else None
    for tag in CURVE_TAGS:
        series = [job[tag] for job in read]
        if tag == LN_ZERO and any(series):  # ln 0 = −∞ where the log wrote nothing: not a gap to bridge
            series = [
                {s: one.get(s, -np.inf) for s in job["objective/mean"]} for one, job in zip(series, read)
            ]
        steps = np.array(sorted({s for one in series for s in one}), dtype=int)
        if not len(steps):
            continue
        table = np.array([[one.get(int(s), np.nan) for s in steps] for one in series])
        result.series[tag] = (steps, np.nanmedian(table, axis=0))
    if done and "scale/mean" in result.series:
        result.sigma_prediction = sigma_prediction(done[0].summary, result.series["scale/mean"][0])
    result.optimal_elbo = model_constant(done, "optimal_elbo")
    return result


def model_constant(jobs: list[Job], key: str) -> float | None:
    """A constant of the model from the jobs' summaries (``optimal_elbo``, ``log_evidence``: the
    seeds agree on it), or None where no job has one."""
    values = [float(j.summary[key]) for j in jobs if j.summary.get(key) is not None]
    return float(np.median(values)) if values else None


def sigma_prediction(summary: dict[str, Any], steps: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """σ's predicted path for plain SGD on a square (``reparam_opt.sweep_summary.stability``), or None."""
    config = summary.get("config", {})
    plain_sgd = config.get("optimizer", {}).get("_target_") == "torch.optim.SGD" and not config.get(
        "optimizer", {}
    ).get("momentum")
    if not plain_sgd or not str(config.get("objective", {}).get("_target_", "")).endswith("Square"):
        return None
    if summary.get("sigma_star") is not None:
        return steps, np.full(len(steps), float(summary["sigma_star"]))
    if config.get("entropy_weight") == 0:
        sigma = harmonic_sigma(config["sigma"], config["lr"], steps, config.get("dim", 1), config["scale"])
        return steps, sigma
    return None
