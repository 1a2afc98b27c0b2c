"""Typed schemas for the variance study (``python -m reparam_opt.variance``), in the ConfigStore.

``conf/variance.yaml`` and the ``sweep`` group extend these. A sweep names one parameter of a
study point and the values it takes; a new sweep (say over an objective's ``k``) is one YAML
file in ``conf/sweep/`` with ``parameter: objective.k``, no code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from reparam_opt.training.config import ControlVariateConfig, DrawsConfig, ObjectiveConfig


@dataclass
class SweepConfig:
    """Which point parameter varies: ``n_samples``, ``theta``, ``sigma``, ``dim`` or ``objective.<key>``."""

    parameter: str = MISSING
    points: List[float] = MISSING
    #: Plot the per-sample variance (n × variance of the estimate) instead of the estimate's own.
    per_sample: bool = False
    log_x: bool = True


@dataclass
class VarianceConfig:
    """The top level of the variance study. docs/reference.md, "The variance study", explains each key."""

    #: Estimator configs keyed by name, filled by ``estimator@estimators.<name>`` in the defaults list.
    estimators: Dict[str, Any] = field(default_factory=dict)
    objective: ObjectiveConfig = MISSING
    sweep: SweepConfig = MISSING
    #: How every estimator's ε are drawn: iid, antithetic or sobol (the ``draws`` group).
    draws: DrawsConfig = MISSING
    #: none, delta or moving_average (the ``control_variate`` group).
    control_variate: ControlVariateConfig = MISSING
    theta: float = 2.0
    sigma: float = 1.0
    n_samples: int = 1000
    #: D: μ has D coordinates, each at ``theta``; the study reports the variance per coordinate.
    dim: int = 1
    #: Where q sits: ``point`` (μ = ``theta``, σ = ``sigma`` in every coordinate) or ``optimal``
    #: (a model's best diagonal q at ``entropy_weight``).
    q: str = "point"
    #: ``diagonal``: q's scale is learned per coordinate, and the log-scale gradient is measured too.
    scale: str = "fixed"
    #: λ of J_λ = E_q f − λH(q): the estimators that handle the entropy (trace_elbo, stl) and q=optimal.
    entropy_weight: float = 1.0
    repetitions: int = 100
    seed: int = 0
    #: Confidence level of the interval on each measured variance.
    confidence: float = 0.95
    #: At most this many per-sample terms (repetitions × n) in memory at once; never below one repetition.
    chunk_elements: int = 4_194_304
    #: Precision of the draws and terms: torch's CPU sampler draws float32 normals several times faster.
    dtype: str = "float32"
    device: str = "cpu"


def register_variance_configs() -> None:
    """Store the study's schemas beside the training ones, at the root (``register_configs`` says why)."""
    cs = ConfigStore.instance()
    cs.store(name="variance_schema", node=VarianceConfig)
    cs.store(name="sweep_schema", node=SweepConfig)
