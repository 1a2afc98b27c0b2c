"""Typed schemas for ``train.py``, registered in Hydra's ConfigStore; and the run-directory resolver.

The YAML files under ``conf/`` extend these schemas (Hydra's "structured config schema"
pattern), so a typo or a value of the wrong type fails at composition, before any work. Each key
is declared once, here, with its default and its bound (``bounds.py``); validation reads the
bounds from these fields. An objective's schema sits beside its class (``Objective.schema``), and
so does a family's (``Family.schema``).

``${fresh_dir:outputs/runs/<date>/<time>}`` claims an output directory with an atomic ``mkdir``:
the first run to ask gets ``<time>``, a second one in the same second ``<time>_2``, and so on.
The resolver is cached, and Hydra copies the cache of the sweep's config into each job's, so
every job of a sweep sees the one directory its sweep claimed.
"""

import os
from dataclasses import dataclass, field
from itertools import count
from typing import Optional, Tuple

from hydra.core.config_store import ConfigStore
from hydra.utils import get_object
from omegaconf import II, MISSING, DictConfig, OmegaConf

from reparam_opt.estimators import ESTIMATORS, Estimator
from reparam_opt.families import FAMILIES
from reparam_opt.families.base import FamilyConfig
from reparam_opt.families.gaussian import SCALES
from reparam_opt.objectives import OBJECTIVES, ObjectiveConfig
from reparam_opt.training.bounds import (
    FINITE,
    NON_NEGATIVE,
    POSITIVE,
    UNIT_INTERVAL,
    ZERO_OR_AT_LEAST_2,
    at_least,
    bound,
    null_or_at_least,
    one_of,
)
from reparam_opt.training.schedule import SCHEDULES


@dataclass
class EstimatorConfig:
    """An ``Estimator`` of ``reparam_opt.estimators`` by its path; ``instantiate`` gives it as a callable."""

    _target_: str = MISSING
    _partial_: bool = True


@dataclass
class RelaxedEstimatorConfig(EstimatorConfig):
    """A relaxed estimator for a discrete b (``concrete``, ``straight_through``): its temperature τ > 0."""

    tau: float = field(default=0.5, metadata=bound(POSITIVE))


@dataclass
class RebarEstimatorConfig(RelaxedEstimatorConfig):
    """REBAR: its temperature τ > 0 and the weight η of its control variate, fixed or ``learn``ed
    (Adam at ``control_lr``, against the squared estimate), per replicate."""

    eta: float = field(default=1.0, metadata=bound(FINITE))
    learn: bool = False
    control_lr: float = field(default=0.01, metadata=bound(POSITIVE))


@dataclass
class RelaxEstimatorConfig(RelaxedEstimatorConfig):
    """RELAX: the starting temperature τ > 0 of its learned control variate, and Adam's step for it."""

    control_lr: float = field(default=0.01, metadata=bound(POSITIVE))


@dataclass
class MovingAverageEstimatorConfig(EstimatorConfig):
    """REINFORCE with a moving-average baseline (``score_ema``): its decay, in [0, 1)."""

    decay: float = field(default=0.95, metadata=bound(UNIT_INTERVAL))


@dataclass
class WholeObjectiveEstimatorConfig(EstimatorConfig):
    """An estimator of the whole J_λ (``trace_elbo``, ``stl``): the entropy's weight λ, the run's."""

    entropy_weight: float = II("entropy_weight")


@dataclass
class DrawsConfig:
    """How ε are drawn: a class of ``reparam_opt.families.draws`` that ``instantiate`` builds."""

    _target_: str = MISSING


@dataclass
class SobolDrawsConfig(DrawsConfig):
    """Scrambled Sobol' points: ``scrambles`` independent scrambles per step, n/scrambles points each."""

    _target_: str = "reparam_opt.families.draws.Sobol"
    scrambles: int = field(default=1, metadata=bound(at_least(1)))


@dataclass
class ControlVariateConfig:
    """A control variate: ``none``, or a class that ``instantiate`` builds with its options."""

    _target_: str = MISSING


@dataclass
class DeltaConfig(ControlVariateConfig):
    """The delta method: β from ``coefficient_samples`` extra draws per step, or leave-one-out (0)."""

    _target_: str = "reparam_opt.estimators.delta_method.Delta"
    coefficient_samples: int = field(default=0, metadata=bound(ZERO_OR_AT_LEAST_2))


@dataclass
class MovingAverageBaselineConfig(ControlVariateConfig):
    """A moving-average baseline for the score function: its decay, in [0, 1)."""

    _target_: str = "reparam_opt.estimators.moving_average.MovingAverage"
    decay: float = field(default=0.95, metadata=bound(UNIT_INTERVAL))


@dataclass
class OptimizerConfig:
    """A torch.optim class, partially applied: the training loop passes it the parameter θ."""

    _target_: str = MISSING
    _partial_: bool = True
    lr: float = II("lr")


@dataclass
class SGDConfig(OptimizerConfig):
    _target_: str = "torch.optim.SGD"
    momentum: float = 0.0


@dataclass
class AdamConfig(OptimizerConfig):
    _target_: str = "torch.optim.Adam"
    betas: Tuple[float, float] = (0.9, 0.999)


#: What ``return_metric`` may name on some family; the family narrows it to its own.
RETURN_METRICS = tuple(dict.fromkeys(m for family in FAMILIES.values() for m in family.return_metrics))


@dataclass
class TrainConfig:
    """The top level of ``train.py``. docs/reference.md, "Keys", says why each default was chosen."""

    estimator: EstimatorConfig = MISSING
    objective: ObjectiveConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    family: FamilyConfig = MISSING
    #: iid, antithetic or sobol: how the estimator's ε are drawn.
    draws: DrawsConfig = MISSING
    #: none, delta or moving_average.
    control_variate: ControlVariateConfig = MISSING
    seed: int = 0
    theta0: float = field(default=3.0, metadata=bound(FINITE))
    #: σ, or σ₀ when the scale is learned.
    sigma: float = field(default=1.0, metadata=bound(POSITIVE))
    #: D: μ has D coordinates, x ~ N(μ, σ²I).
    dim: int = field(default=1, metadata=bound(at_least(1)))
    #: fixed, shared (one learned log σ) or diagonal (one per coordinate).
    scale: str = field(default="fixed", metadata=bound(one_of(SCALES)))
    #: λ: minimise E_q[f] − λH(q).
    entropy_weight: float = field(default=0.0, metadata=bound(NON_NEGATIVE))
    #: Samples per estimate; the estimator sets the fewest it works with (``Estimator.min_samples``).
    n_samples: int = 2
    steps: int = field(default=200, metadata=bound(at_least(1)))
    replicates: int = field(default=256, metadata=bound(at_least(1)))
    lr: float = field(default=0.1, metadata=bound(POSITIVE))
    #: constant, or quarter_cosine: lr · cos(π/2 · t/T) (reparam_opt/training/schedule.py).
    lr_schedule: str = field(default="constant", metadata=bound(one_of(SCHEDULES)))
    #: null: about 1000 logged points per series.
    log_every: Optional[int] = field(default=None, metadata=bound(null_or_at_least(1)))
    #: null: every 10th logged step.
    histogram_every: Optional[int] = field(default=None, metadata=bound(null_or_at_least(1)))
    tolerance: float = field(default=0.35, metadata=bound(POSITIVE))
    #: With n_samples = 1: this many extra single-sample draws at each logged step give grad/variance
    #: and grad/log_variance; they do not feed the update and are not counted as f-evaluations.
    variance_draws: int = field(default=0, metadata=bound(ZERO_OR_AT_LEAST_2))
    #: Per-sample terms held at once: a bigger step is made in chunks of whole replicate rows,
    #: with the same numbers (reparam_opt/training/chunks.py); 2²³ keeps a step within a few hundred MB.
    max_batch_elements: int = field(default=8_388_608, metadata=bound(at_least(1)))
    #: torch.compile a whole step (fused kernels, the eager path's draws); estimators without state.
    compile: bool = False
    device: str = "cpu"
    #: torch threads; null: cores / n_jobs under joblib, else torch's default.
    threads: Optional[int] = field(default=None, metadata=bound(null_or_at_least(1)))
    #: The summary metric train.py returns (an Optuna sweep minimises it).
    return_metric: Optional[str] = field(default=None, metadata=bound(one_of(RETURN_METRICS, null=True)))


def estimator_of(estimator_cfg: DictConfig) -> Estimator:
    """The ``Estimator`` that an ``estimator`` config's ``_target_`` names; ValueError if it names none."""
    target = estimator_cfg._target_
    try:
        found = get_object(target)
    except ImportError:  # Hydra's error for a path it cannot resolve
        found = None
    if not isinstance(found, Estimator):
        raise ValueError(
            f"bad value estimator._target_={target}: must name an Estimator, "
            f"such as reparam_opt.estimators.{next(iter(ESTIMATORS))}"
        )
    return found


def claim_fresh_dir(path: str) -> str:
    """Create ``path``, or the first free ``path_2``, ``path_3``...; return the one created."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    for n in count(1):
        candidate = path if n == 1 else f"{path}_{n}"
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("fresh_dir"):
        OmegaConf.register_new_resolver("fresh_dir", claim_fresh_dir, use_cache=True)


def register_configs() -> None:
    """Store the schemas at the ConfigStore's root, outside every group, so that no group lists one
    as an option (``--help``, Hydra's "Available options"); each YAML option extends its schema
    by absolute path, ``- /estimator_schema@_here_``. Each objective's schema is its class's
    (``Objective.schema``), stored as ``<name>_schema``."""
    register_resolvers()
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="estimator_schema", node=EstimatorConfig)
    cs.store(name="relaxed_estimator_schema", node=RelaxedEstimatorConfig)
    cs.store(name="moving_average_estimator_schema", node=MovingAverageEstimatorConfig)
    cs.store(name="rebar_estimator_schema", node=RebarEstimatorConfig)
    cs.store(name="relax_estimator_schema", node=RelaxEstimatorConfig)
    cs.store(name="whole_objective_estimator_schema", node=WholeObjectiveEstimatorConfig)
    cs.store(name="draws_schema", node=DrawsConfig)
    cs.store(name="sobol_draws_schema", node=SobolDrawsConfig)
    cs.store(name="control_variate_schema", node=ControlVariateConfig)
    cs.store(name="delta_schema", node=DeltaConfig)
    cs.store(name="moving_average_baseline_schema", node=MovingAverageBaselineConfig)
    cs.store(name="family_schema", node=FamilyConfig)
    for family in FAMILIES.values():
        if family.schema is not FamilyConfig:
            cs.store(name=f"{family.name}_family_schema", node=family.schema)
    cs.store(name="objective_schema", node=ObjectiveConfig)
    for objective in OBJECTIVES.values():
        if objective.schema is not ObjectiveConfig:
            cs.store(name=f"{objective.name}_schema", node=objective.schema)
    cs.store(name="sgd_schema", node=SGDConfig)
    cs.store(name="adam_schema", node=AdamConfig)
