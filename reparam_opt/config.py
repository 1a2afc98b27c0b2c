"""Typed schemas for every config, registered in Hydra's ConfigStore.

The YAML files under ``conf/`` extend these schemas (Hydra's "structured config schema"
pattern), so a typo or a value of the wrong type fails at composition, before any work.
"""

from dataclasses import dataclass
from typing import Optional, Tuple

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING

from reparam_opt.run_dirs import register_resolvers


@dataclass
class EstimatorConfig:
    """An estimator function, made into a ``functools.partial`` by ``instantiate``."""

    _target_: str = MISSING
    _partial_: bool = True


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

    _target_: str = "reparam_opt.nonpolynomial.GaussianBump"
    k: float = 1.0


@dataclass
class CosineConfig(ObjectiveConfig):
    """f(x) = cos(kx); k > 0."""

    _target_: str = "reparam_opt.nonpolynomial.Cosine"
    k: float = 1.0


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


@dataclass
class TrainConfig:
    """The top level of ``train.py``. README.md says why each default was chosen."""

    estimator: EstimatorConfig = MISSING
    objective: ObjectiveConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    seed: int = 0
    theta0: float = 3.0
    sigma: float = 1.0
    n_samples: int = 2
    steps: int = 200
    replicates: int = 256
    lr: float = 0.1
    log_every: Optional[int] = None  # null: about 1000 logged points per series
    histogram_every: Optional[int] = None  # null: every 10th logged step
    tolerance: float = 0.35
    device: str = "cpu"
    threads: Optional[int] = None  # torch threads; null: cores / n_jobs under joblib, else torch's default
    return_metric: Optional[str] = None  # the summary metric train.py returns (an Optuna sweep minimises it)


def register_configs() -> None:
    """Store the schemas; the YAML groups in ``conf/`` name them in their defaults lists."""
    register_resolvers()
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(group="estimator", name="estimator_schema", node=EstimatorConfig)
    cs.store(group="objective", name="objective_schema", node=ObjectiveConfig)
    cs.store(group="objective", name="shifted_square_schema", node=ShiftedSquareConfig)
    cs.store(group="objective", name="gaussian_bump_schema", node=GaussianBumpConfig)
    cs.store(group="objective", name="cosine_schema", node=CosineConfig)
    cs.store(group="optimizer", name="sgd_schema", node=SGDConfig)
    cs.store(group="optimizer", name="adam_schema", node=AdamConfig)
