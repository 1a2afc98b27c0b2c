"""Typed schemas for ``train.py``, registered in Hydra's ConfigStore; and the run-directory resolver.

The YAML files under ``conf/`` extend these schemas (Hydra's "structured config schema"
pattern), so a typo or a value of the wrong type fails at composition, before any work.

``${fresh_dir:outputs/runs/<date>/<time>}`` claims an output directory with an atomic ``mkdir``:
the first run to ask gets ``<time>``, a second one in the same second ``<time>_2``, and so on.
The resolver is cached, and Hydra copies the cache of the sweep's config into each job's, so
every job of a sweep sees the one directory its sweep claimed.
"""

import os
from dataclasses import dataclass
from itertools import count

from hydra.core.config_store import ConfigStore
from hydra.utils import get_object
from omegaconf import II, MISSING, DictConfig, OmegaConf

from reparam_opt.estimators import ESTIMATORS, Estimator


@dataclass
class EstimatorConfig:
    """An ``Estimator`` of ``reparam_opt.estimators`` by its path; ``instantiate`` gives it as a callable."""

    _target_: str = MISSING
    _partial_: bool = True


@dataclass
class RelaxedEstimatorConfig(EstimatorConfig):
    """A relaxed estimator for a discrete b (``concrete``, ``straight_through``): its temperature τ > 0."""

    tau: float = 0.5


@dataclass
class RebarEstimatorConfig(RelaxedEstimatorConfig):
    """REBAR: its temperature τ > 0 and the weight η of its control variate, fixed or ``learn``ed
    (Adam at ``control_lr``, against the squared estimate), per replicate."""

    eta: float = 1.0
    learn: bool = False
    control_lr: float = 0.01


@dataclass
class RelaxEstimatorConfig(RelaxedEstimatorConfig):
    """RELAX: the starting temperature τ > 0 of its learned control variate, and Adam's step for it."""

    control_lr: float = 0.01


@dataclass
class MovingAverageEstimatorConfig(EstimatorConfig):
    """REINFORCE with a moving-average baseline (``score_ema``): its decay, in [0, 1)."""

    decay: float = 0.95


@dataclass
class FamilyConfig:
    """Which family q belongs to: ``gaussian`` (N(μ, σ²I), the keys dim, scale, entropy_weight, sigma)
    or ``bernoulli`` (Bernoulli(σ(θ)), θ the logit)."""

    name: str = MISSING


@dataclass
class ObjectiveConfig:
    _target_: str = MISSING


@dataclass
class ShiftedSquareConfig(ObjectiveConfig):
    """f(x) = (x − k)²; any finite k."""

    _target_: str = "reparam_opt.objectives.ShiftedSquare"
    k: float = 1.0


@dataclass
class GaussianBumpConfig(ObjectiveConfig):
    """f(x) = exp(−kx²); k > 0."""

    _target_: str = "reparam_opt.objectives.GaussianBump"
    k: float = 1.0


@dataclass
class CosineConfig(ObjectiveConfig):
    """f(x) = cos(kx); k > 0."""

    _target_: str = "reparam_opt.objectives.Cosine"
    k: float = 1.0


@dataclass
class TargetConfig(ObjectiveConfig):
    """f(b) = (b − t)² on the Bernoulli family; any finite t."""

    _target_: str = "reparam_opt.objectives.Target"
    t: float = 0.45


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
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class TrainConfig:
    """The top level of ``train.py``. docs/reference.md, "Keys", says why each default was chosen."""

    estimator: EstimatorConfig = MISSING
    objective: ObjectiveConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    family: FamilyConfig = MISSING
    seed: int = 0
    theta0: float = 3.0
    sigma: float = 1.0  # σ, or σ₀ when the scale is learned
    dim: int = 1  # D: μ has D coordinates, x ~ N(μ, σ²I)
    scale: str = "fixed"  # fixed, shared (one learned log σ) or diagonal (one per coordinate)
    entropy_weight: float = 0.0  # λ: minimise E_q[f] − λH(q)
    n_samples: int = 2
    steps: int = 200
    replicates: int = 256
    lr: float = 0.1
    log_every: int | None = None  # null: about 1000 logged points per series
    histogram_every: int | None = None  # null: every 10th logged step
    tolerance: float = 0.35
    #: With n_samples = 1: this many extra single-sample draws at each logged step give grad/variance
    #: and grad/log_variance; they do not feed the update and are not counted as f-evaluations.
    variance_draws: int = 0
    #: Per-sample terms held at once: a bigger step is made in chunks of whole replicate rows,
    #: with the same numbers (reparam_opt/training/chunks.py); 2²³ keeps a step within a few hundred MB.
    max_batch_elements: int = 8_388_608
    #: torch.compile a whole step (fused kernels, the eager path's draws); estimators without state.
    compile: bool = False
    device: str = "cpu"
    threads: int | None = None  # torch threads; null: cores / n_jobs under joblib, else torch's default
    return_metric: str | None = None  # the summary metric train.py returns (an Optuna sweep minimises it)


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
    by absolute path, ``- /estimator_schema@_here_``."""
    register_resolvers()
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="estimator_schema", node=EstimatorConfig)
    cs.store(name="relaxed_estimator_schema", node=RelaxedEstimatorConfig)
    cs.store(name="moving_average_estimator_schema", node=MovingAverageEstimatorConfig)
    cs.store(name="rebar_estimator_schema", node=RebarEstimatorConfig)
    cs.store(name="relax_estimator_schema", node=RelaxEstimatorConfig)
    cs.store(name="family_schema", node=FamilyConfig)
    cs.store(name="target_schema", node=TargetConfig)
    cs.store(name="objective_schema", node=ObjectiveConfig)
    cs.store(name="shifted_square_schema", node=ShiftedSquareConfig)
    cs.store(name="gaussian_bump_schema", node=GaussianBumpConfig)
    cs.store(name="cosine_schema", node=CosineConfig)
    cs.store(name="sgd_schema", node=SGDConfig)
    cs.store(name="adam_schema", node=AdamConfig)
