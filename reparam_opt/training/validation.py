"""Checks on a composed config, run before any work, so a bad value costs one line, not a run.

Each check raises ``ConfigError``, whose message names the key, the value given and what is
allowed; the entry points print it as that one line (``reparam_opt.training.cli``). It subclasses Hydra's
``CompactHydraException``, which Hydra, too, reports as its message alone. The checks are plain
functions on a DictConfig, for any app that shares these keys.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from hydra.errors import CompactHydraException, InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig

from reparam_opt.families.gaussian import SCALES
from reparam_opt.training.config import TrainConfig, estimator_of
from reparam_opt.training.known_keys import first_unknown_key
from reparam_opt.training.summary import RETURN_METRICS


class ConfigError(CompactHydraException, ValueError):
    """A config key or value outside what is allowed; its message is the one line to print."""


@dataclass(frozen=True)
class Allowed:
    """What a key allows: a test on its value and the words that say it."""

    text: str
    test: Callable[[Any], bool]

    def check(self, key: str, value: Any) -> None:
        if not self.test(value):
            raise ConfigError(f"bad value {key}={value}: must be {self.text}")


def at_least(minimum: int) -> Allowed:
    return Allowed(f"an integer >= {minimum}", lambda v: v >= minimum)


def null_or_at_least(minimum: int) -> Allowed:
    return Allowed(f"null or an integer >= {minimum}", lambda v: v is None or v >= minimum)


POSITIVE = Allowed("a finite number > 0", lambda v: math.isfinite(v) and v > 0)
FINITE = Allowed("a finite number", math.isfinite)

#: The top-level keys of ``train.py`` and what each allows (docs/reference.md, "Bad input").
TRAIN_KEYS: Mapping[str, Allowed] = {
    "steps": at_least(1),
    "replicates": at_least(1),
    "log_every": null_or_at_least(1),
    "histogram_every": null_or_at_least(1),
    "threads": null_or_at_least(1),
    "return_metric": Allowed(
        f"null or one of {', '.join(dict.fromkeys(m for ms in RETURN_METRICS.values() for m in ms))}",
        lambda v: v is None or any(v in ms for ms in RETURN_METRICS.values()),
    ),
    "lr": POSITIVE,
    "sigma": POSITIVE,
    "theta0": FINITE,
    "tolerance": POSITIVE,
    "dim": at_least(1),
    "max_batch_elements": at_least(1),
    "variance_draws": Allowed("0, or an integer >= 2", lambda v: v == 0 or v >= 2),
    "scale": Allowed(f"one of {', '.join(SCALES)}", lambda v: v in SCALES),
    "entropy_weight": Allowed("a finite number >= 0", lambda v: math.isfinite(v) and v >= 0),
}


def check_known_keys(cfg: DictConfig) -> None:
    """No key that the schemas do not declare: ``+estimater=score`` would otherwise run the default
    estimator, and ``+tau=2`` the default τ, without a word."""
    line = first_unknown_key(cfg)
    if line is not None:
        raise ConfigError(line)


def check_keys(cfg: DictConfig, rules: Mapping[str, Allowed], prefix: str = "") -> None:
    for key, rule in rules.items():
        if key in cfg:
            rule.check(prefix + key, cfg[key])


def check_n_samples(estimator_cfg: DictConfig, n_samples: int) -> None:
    """``n_samples`` against what the configured estimator needs (say, 2 for a leave-one-out baseline)."""
    try:
        estimator = estimator_of(estimator_cfg)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    if n_samples < estimator.min_samples:
        raise ConfigError(
            f"bad value n_samples={n_samples}: must be an integer >= {estimator.min_samples} "
            f"for estimator={estimator.name}"
        )


def check_objective(objective_cfg: DictConfig) -> None:
    """Build the objective and run its ``validate()``: a ValueError from either becomes one line.

    Each objective checks its own parameters (``Objective.validate``, e.g. k > 0 for ``cosine``),
    naming the key, the value and what is allowed; this only turns that into a ``ConfigError``.
    """
    try:
        objective = instantiate(objective_cfg)
        validate = getattr(objective, "validate", None)
        if validate is not None:
            validate()
    except InstantiationException as error:
        if isinstance(error.__cause__, ValueError):
            raise ConfigError(str(error.__cause__)) from error
        raise
    except ValueError as error:
        raise ConfigError(str(error)) from error


def check_device(name: str) -> None:
    """``cpu``, or ``cuda``/``cuda:N`` where CUDA and that device exist."""
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ConfigError(f"bad value device={name}: must be cpu, cuda or cuda:<index>")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"bad value device={name}: CUDA is not available on this machine, so it must be cpu"
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        last = torch.cuda.device_count() - 1
        raise ConfigError(f"bad value device={name}: must be cpu or cuda:0 to cuda:{last}")


#: The ``family`` group's options.
FAMILIES = ("gaussian", "bernoulli")

#: The keys of the Gaussian family, at the values that leave them meaning nothing elsewhere
#: (``tolerance`` is on the RMS error against θ*, which only the Gaussian family has).
GAUSSIAN_KEYS = {
    "dim": 1,
    "scale": "fixed",
    "entropy_weight": 0.0,
    "sigma": 1.0,
    "tolerance": TrainConfig.tolerance,
}

#: Options an estimator's config may carry, and what each allows.
ESTIMATOR_KEYS: Mapping[str, Allowed] = {
    "tau": POSITIVE,
    "decay": Allowed("a number in [0, 1)", lambda v: 0 <= v < 1),
    "eta": FINITE,
    "control_lr": POSITIVE,
}


def check_family(cfg: DictConfig) -> None:
    """The family exists; the estimator and the objective apply to it; no Gaussian key is set for
    another family, where it would silently mean nothing."""
    family = cfg.family.name
    if family not in FAMILIES:
        raise ConfigError(f"bad value family.name={family}: must be one of {', '.join(FAMILIES)}")
    estimator = estimator_of(cfg.estimator)
    if not estimator.applies_to(family):
        raise ConfigError(estimator.refusal(family))
    objective = get_class(cfg.objective._target_)
    if objective.family != family:
        choices = "target" if family == "bernoulli" else "square, shifted_square, gaussian_bump or cosine"
        raise ConfigError(
            f"bad value objective={objective.name}: it applies to family={objective.family} only; "
            f"family={family} takes objective={choices}"
        )
    metrics = RETURN_METRICS[family]
    if cfg.get("return_metric") is not None and cfg.return_metric not in metrics:
        raise ConfigError(
            f"bad value return_metric={cfg.return_metric}: family={family} "
            f"returns one of {', '.join(metrics)}"
        )
    if family != "gaussian":
        for key, neutral in GAUSSIAN_KEYS.items():
            if cfg[key] != neutral:
                raise ConfigError(
                    f"bad value {key}={cfg[key]}: it applies to family=gaussian only; "
                    f"family={family} must leave it at {neutral}"
                )


def check_train_config(cfg: DictConfig) -> None:
    """Every check that applies to a ``train.py`` config; raises the first ``ConfigError``."""
    check_known_keys(cfg)
    check_keys(cfg, TRAIN_KEYS)
    check_keys(cfg.estimator, ESTIMATOR_KEYS, prefix="estimator.")
    check_n_samples(cfg.estimator, cfg.n_samples)
    check_objective(cfg.objective)
    check_family(cfg)
    check_device(cfg.device)
    check_compile(cfg)


def check_compile(cfg: DictConfig) -> None:
    """``compile`` applies to an estimator without state: the compiled step is a pure function."""
    if cfg.get("compile", False) and estimator_of(cfg.estimator).stateful:
        raise ConfigError(
            f"bad value compile=true: estimator={estimator_of(cfg.estimator).name} keeps state "
            "across steps; compile applies to estimators without state"
        )
