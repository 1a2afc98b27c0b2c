"""What every family is: the object a run builds from ``cfg.family`` and asks everything that depends
on what q is.

A family owns its q and the parameter rows that define it (one row of P numbers per replicate,
so the loop, the optimizer, the divergence mask and the history are the same whatever q is), θ*
and the metrics that need it, its per-step scalars and its TensorBoard layout, its memory per
term, the checks of its own keys and its return metrics. The run and the loop call these and
never ask which family they hold, so a new family is a module here (with its entry in
``FAMILIES``), a YAML in ``conf/family/`` and the terms of the estimators that apply to it, with
nothing changed under ``training/``.

``build`` makes one with Hydra's ``instantiate`` from the ``family`` node, passing the top-level
keys that describe q (``Q_KEYS``); each family takes them all and refuses, in one line, a key it
has no use for that is set off its neutral value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from hydra.utils import instantiate
from omegaconf import MISSING, DictConfig
from torch import Tensor

from reparam_opt.families.draws import IID
from reparam_opt.objectives import OBJECTIVES

#: The top-level keys that describe q, and their neutral values: a family that has no use for one
#: must leave it there (``tolerance`` is on the RMS error against θ*, which not every family has).
Q_KEYS: Mapping[str, Any] = {
    "dim": 1,
    "scale": "fixed",
    "entropy_weight": 0.0,
    "sigma": 1.0,
    "tolerance": 0.35,
}


def build(cfg: DictConfig) -> Family:
    """The run's family, from ``cfg.family``, the top-level keys in ``Q_KEYS`` and how ε are drawn
    (the ``draws`` group, built by ``instantiate`` too)."""
    keys = {key: cfg[key] for key in (*Q_KEYS, "draws") if key in cfg}
    return instantiate(cfg.family, **keys, _convert_="all")


@dataclass
class FamilyConfig:
    """Which family q belongs to, as the class ``instantiate`` builds, and its ``name``; a family
    with keys of its own extends this in its module (its ``schema``)."""

    _target_: str = MISSING
    name: str = MISSING


class Family:
    """The interface the run uses; the methods here are what a family without the feature does."""

    #: Its typed schema, stored in the ConfigStore as ``family_schema`` (or ``<name>_family_schema``
    #: for a family with keys of its own) for its YAML to extend.
    schema: ClassVar[type] = FamilyConfig

    #: Its option in the ``family`` config group.
    name: str = ""
    #: What its samples are, as a refusal says it (``b in {0, 1}``).
    sample_space: str = ""
    #: The metrics ``return_metric`` may name.
    return_metrics: tuple[str, ...] = ()
    #: D, the coordinates of μ (or of the logits), and P, the length of one parameter row.
    dim: int = 1
    params: int = 1
    #: Whether a scale is learned beside the location (the last P − D entries of a row).
    learned: bool = False
    #: How its samples' noise is drawn (``reparam_opt/families/draws.py``).
    draws: Any = IID()

    def refuse(self, key: str, value: Any, neutral: Any) -> None:
        """The one line for a key of another family set off its neutral value."""
        if value != neutral:
            raise ValueError(
                f"bad value {key}={value}: it applies to family=gaussian only; "
                f"family={self.name} must leave it at {neutral}"
            )

    def check(self, cfg: DictConfig, objective: Any, estimator: Any) -> None:
        """Raise ValueError, one line, where the config, the objective or the estimator does not fit."""
        if not estimator.applies_to(self.name):
            raise ValueError(estimator_refusal(estimator, self.name))
        if not self.takes(objective):
            raise ValueError(
                f"bad value objective={objective.name}: it applies to family={objective.family} only; "
                f"family={self.name} takes objective={or_list(objectives_of(self.name))}"
            )
        metric = cfg.get("return_metric")
        if metric is not None and metric not in self.return_metrics:
            raise ValueError(
                f"bad value return_metric={metric}: family={self.name} "
                f"returns one of {', '.join(self.return_metrics)}"
            )

    def takes(self, objective: Any) -> bool:
        """Whether the objective is a cost of this family's samples."""
        return objective.family == self.name

    def loc(self, theta: Tensor) -> Tensor:
        """μ (or the logits): the first D entries of each parameter row."""
        return theta[..., : self.dim]

    def entropy_grad(self, theta: Tensor) -> Tensor | None:
        """An exact gradient the loop adds to the estimate (an entropy term's), or None."""
        return None

    def optimum(self, objective: Any, theta0: float) -> Any:
        """θ* and J* (``objectives.Optimum``) that the run measures against, or None where it has none."""
        return None

    def sigma_star(self, objective: Any) -> float | None:
        return None

    def objective_star(self, objective: Any, theta0: float) -> float | None:
        """J at the optimum, where it has a closed form."""
        return None

    def final_metrics(self, objective: Any, theta: Tensor, sigma_star: float | None) -> dict[str, Any]:
        """What summary.json adds for this family, over the live replicates' rows ``theta``."""
        return {}

    def sampled_loss(self, objective: Any, q: Any, n_samples: int, generator: Any = None) -> Tensor:
        """The loss at n fresh draws of q per replicate (from ``generator``), [replicates, n]: f,
        plus whatever else the family's J has (an entropy term), whose mean estimates J."""
        return objective(q.draw(n_samples, generator))

    def layout(self) -> dict[str, dict[str, list]]:
        """Its Custom Scalars page: category → chart title → [kind, tags]."""
        return {}


def theta_layout(rms_error: bool) -> dict[str, list]:
    """θ as a mean with a 5%–95% band, replicate 0 beside the mean, and its RMS error against θ*."""
    charts = {
        "theta: mean with q05-q95 band": ["Margin", ["theta/mean", "theta/q05", "theta/q95"]],
        "theta: replicate 0 and mean": ["Multiline", ["theta/replicate0", "theta/mean"]],
    }
    if rms_error:
        charts["theta: RMS error"] = ["Multiline", ["theta/rms_error"]]
    return charts


#: The loss: each logged step's Monte Carlo estimate of E_q[f] beside J where J is known.
LOSS_LAYOUT = {
    "loss": {
        "loss: Monte Carlo estimate vs exact J": ["Multiline", ["loss/monte_carlo", "objective/mean"]],
        "loss: Monte Carlo standard error": ["Multiline", ["loss/monte_carlo_se"]],
    },
}


def estimator_refusal(estimator: Any, family: str) -> str:
    """The one line for an estimator on a family it has no terms for."""
    reason = estimator.why_not.get(family)
    if reason is not None:
        return f"bad value estimator={estimator.name}: it does not apply to family={family}, since {reason}"
    (only, *_) = estimator.terms
    (space,) = {c.sample_space for c in subclasses(Family) if c.name == only}
    return f"bad value estimator={estimator.name}: it applies to family={only} only, {space}"


def subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]


def objectives_of(family: str) -> tuple[str, ...]:
    """The objectives whose samples a family draws, by name."""
    return tuple(name for name, objective in OBJECTIVES.items() if objective.family == family)


def or_list(names: tuple[str, ...]) -> str:
    """``a, b or c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
