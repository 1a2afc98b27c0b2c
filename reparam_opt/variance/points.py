"""Where the variance study estimates the gradient: a point q = N(μ, diag σ²), and the sweep's
values of it.

By default every coordinate of μ sits at ``theta`` and every σ at ``sigma`` (``q=point``); on a
model, ``q=optimal`` puts q at the model's best diagonal Gaussian (``Objective.optimal_q`` at the
``entropy_weight``), where μ and σ differ per coordinate. With ``scale=diagonal`` q's scale is
learned per coordinate, so each estimator returns its log-scale gradient beside the mean's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor

from reparam_opt.families.draws import IID
from reparam_opt.families.gaussian import Gaussian, at_point
from reparam_opt.objectives import Objective
from reparam_opt.variance.tricks import trick_of

#: Top-level keys a sweep may vary; ``objective.<key>`` reaches the objective's own parameters.
POINT_KEYS = ("n_samples", "theta", "sigma", "dim")

#: The ``q`` key's values: where q sits.
QS = ("point", "optimal")

#: The ``scale`` key's values: whether the log-scale gradient is estimated too.
STUDY_SCALES = ("fixed", "diagonal")


@dataclass(frozen=True)
class Point:
    """Where the gradient is estimated: θ (every coordinate of μ), σ, the sample size n, the cost
    and D; or, where ``loc`` and ``scale`` are given ([D] float64), that μ and σ."""

    theta: float
    sigma: float
    n_samples: float
    objective: Objective
    dim: int = 1
    learned: str = "fixed"
    loc: Tensor | None = None
    scale: Tensor | None = None
    #: How the estimators draw ε here (the ``draws`` group).
    draws: Any = IID()

    def q(self, replicates: int, **like) -> Gaussian:
        """q at this point for ``replicates`` rows (one per repetition)."""
        if self.loc is None:
            q = at_point(replicates, self.dim, self.theta, self.sigma, self.learned, **like)
            return q.with_draws(self.draws)
        loc = self.loc.to(**like).expand(replicates, self.dim).clone()
        scale = self.scale.to(**like).expand(replicates, self.dim).clone()
        return Gaussian(loc, scale, self.learned, self.draws)

    def mu_sigma(self) -> tuple[Tensor, Tensor | float]:
        """μ [D] and σ (a number, or [D]) in float64, for the closed forms."""
        if self.loc is None:
            return torch.full((self.dim,), self.theta, dtype=torch.float64), self.sigma
        return self.loc, self.scale


def point_at(cfg: DictConfig, parameter: str, value: float) -> Point:
    """The study's base point with ``parameter`` set to ``value``."""
    base = at_q(cfg, instantiate(cfg.objective))
    if parameter == "dim":
        return replace(base, dim=int(value))
    if parameter in POINT_KEYS:
        return replace(base, **{parameter: value})
    if parameter.startswith("objective.") and parameter.count(".") == 1:
        key = parameter.split(".")[1]
        if key not in cfg.objective:
            raise ValueError(
                f"sweep.parameter={parameter!r}: objective {cfg.objective._target_} has no key {key!r}"
            )
        return at_q(cfg, instantiate(cfg.objective, **{key: value}))
    raise ValueError(
        f"sweep.parameter={parameter!r} is not allowed; use one of {', '.join(POINT_KEYS)} or objective.<key>"
    )


def at_q(cfg: DictConfig, objective: Objective) -> Point:
    """The base point on ``objective``: at θ and σ, or at its best diagonal q."""
    learned = cfg.get("scale", "fixed")
    draws, _ = trick_of(cfg)
    base = Point(
        float(cfg.theta), float(cfg.sigma), int(cfg.n_samples), objective, int(cfg.dim), learned, draws=draws
    )
    if cfg.get("q", "point") == "point":
        return base
    loc, scale = objective.optimal_q(float(cfg.entropy_weight))
    return replace(base, loc=loc, scale=scale)


def check_q(cfg: DictConfig, objective: Objective) -> None:
    """The ``q``, ``scale`` and ``entropy_weight`` keys, one line each."""
    if cfg.q not in QS:
        raise ValueError(f"bad value q={cfg.q}: must be one of {', '.join(QS)}")
    if cfg.scale not in STUDY_SCALES:
        raise ValueError(f"bad value scale={cfg.scale}: must be one of {', '.join(STUDY_SCALES)}")
    if cfg.q == "optimal" and objective.optimal_q(float(cfg.entropy_weight)) is None:
        raise ValueError(
            f"bad value q=optimal: objective={objective.name} at entropy_weight={cfg.entropy_weight} has "
            "no best diagonal q; use a model (linear_regression, logistic_regression) and entropy_weight > 0"
        )
    if cfg.q == "optimal" and cfg.sweep.parameter in ("theta", "sigma"):
        raise ValueError(
            f"bad value sweep.parameter={cfg.sweep.parameter}: q=optimal sets μ and σ; "
            "sweep n_samples instead"
        )
