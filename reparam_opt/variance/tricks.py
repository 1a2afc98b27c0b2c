"""The variance study with a variance-reduction trick: its draws and control variate applied to every
estimator compared (``reparam_opt/estimators/reduction.py``), and, along ``sweep=n_samples``, how
fast each estimator's variance falls with n: the slope of log variance against log n (−1 for
independent draws; steeper for randomised quasi-Monte Carlo on a smooth integrand).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from reparam_opt.estimators import Estimator
from reparam_opt.estimators.reduction import NoControl, reduced
from reparam_opt.families.draws import IID
from reparam_opt.families.gaussian import GaussianFamily
from reparam_opt.training.config import estimator_of
from reparam_opt.training.validation import check_bounds


def tricks(cfg: DictConfig, n_samples: int, n_key: str = "n_samples") -> dict[str, Estimator]:
    """Each estimator with the study's draws and control variate applied (``estimators/reduction.py``),
    by its key; a trick that does not apply to one, or to n (``n_key`` names it), is one line."""
    for group in ("draws", "control_variate"):
        if group in cfg:
            check_bounds(cfg[group], f"{group}.")  # say, control_variate.decay in [0, 1)
    draws, control = trick_of(cfg)
    made = {}
    for key, node in cfg.estimators.items():
        try:
            estimator = estimator_of(node)
            made[key] = reduced(estimator, draws, control, GaussianFamily.name, n_samples, n_key)
        except ValueError as error:
            raise ValueError(f"estimators.{key}: {error}") from None
    return made


def trick_of(cfg: DictConfig) -> tuple[Any, Any]:
    """The study's draws and control variate, built from their groups (iid and none without them)."""
    draws = instantiate(cfg.draws) if "draws" in cfg else IID()
    control = instantiate(cfg.control_variate) if "control_variate" in cfg else NoControl()
    return draws, control


def warmup_of(cfg: DictConfig) -> int:
    """Calls at the point before the measured one, for a control variate with state (a moving
    average), so that its state is that of a run that has stayed there a while."""
    return trick_of(cfg)[1].warmup


def slopes(rows: Sequence[dict[str, Any]], column: str = "variance") -> dict[str, float]:
    """Per estimator, the least-squares slope of log ``column`` against log n over a sweep of n, from
    its points with a positive value (at least two); an estimator with fewer has none."""
    found = {}
    for key in dict.fromkeys(r["estimator"] for r in rows):
        mine = [r for r in rows if r["estimator"] == key and (r.get(column) or 0) > 0]
        if len(mine) >= 2:
            x = np.log([r["n_samples"] for r in mine])
            y = np.log([r[column] for r in mine])
            found[key] = float(np.polyfit(x, y, 1)[0])
    return found


def slope_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The slopes as lines under the table: the mean's, and the log-scale gradient's where measured."""
    lines = []
    for column, what in (("variance", "μ"), ("scale_variance", "log σ")):
        found = slopes(rows, column)
        if found and any(column in r for r in rows):
            text = ", ".join(f"{key} {value:.2f}" for key, value in found.items() if math.isfinite(value))
            lines.append(f"log-log slope of the {what}-gradient's variance against n: {text}")
    return lines
