"""Checks on a composed config and on the parts built from it, run before any work, so a bad value
costs one line, not a run.

Each check raises ``ConfigError``, whose message names the key, the value given and what is
allowed; the entry points print it as that one line (``reparam_opt.training.cli``). It subclasses
Hydra's ``CompactHydraException``, which Hydra, too, reports as its message alone. A key's bound
is declared once, on its schema field (``bounds.py``), and ``check_bounds`` reads it from there;
what depends on more than one key (an estimator on a family, ρ against D) is checked by the
built parts themselves.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from hydra.errors import CompactHydraException, InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from reparam_opt.estimators import Estimator
from reparam_opt.estimators.reduction import NoControl, reduced
from reparam_opt.families import Family, build
from reparam_opt.objectives import Objective
from reparam_opt.training import bounds
from reparam_opt.training.config import estimator_of
from reparam_opt.training.known_keys import first_unknown_key


class ConfigError(CompactHydraException, ValueError):
    """A config key or value outside what is allowed; its message is the one line to print."""


@dataclass(frozen=True)
class Parts:
    """What a run is built around, each made once from the config and checked."""

    objective: Objective
    family: Family
    estimator: Estimator


def check_known_keys(cfg: DictConfig) -> None:
    """No key that the schemas do not declare: ``+estimater=score`` would otherwise run the default
    estimator, and ``+tau=2`` the default τ, without a word."""
    line = first_unknown_key(cfg)
    if line is not None:
        raise ConfigError(line)


def check_bounds(cfg: DictConfig, prefix: str = "") -> None:
    """Every key of every typed node against the bound its schema field declares, depth first in
    the schema's order."""
    schema = OmegaConf.get_type(cfg)
    fields = dataclasses.fields(schema) if dataclasses.is_dataclass(schema) else ()
    rules = {f.name: f.metadata[bounds.KEY] for f in fields if bounds.KEY in f.metadata}
    for key in cfg:
        value = cfg._get_node(key)
        if isinstance(value, DictConfig):
            check_bounds(value, f"{prefix}{key}.")
        elif key in rules:
            line = rules[key].message(prefix + str(key), cfg[key])
            if line is not None:
                raise ConfigError(line)


def check_config(cfg: DictConfig) -> None:
    """The config alone: its keys are known and each value is within its bound."""
    check_known_keys(cfg)
    check_bounds(cfg)


def built(make) -> Any:
    """``make()``, with a ValueError from a constructor (through Hydra or not) as a ``ConfigError``."""
    try:
        return make()
    except InstantiationException as error:
        if isinstance(error.__cause__, ValueError):
            raise ConfigError(str(error.__cause__)) from error
        raise
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(str(error)) from error


def check_objective(objective_cfg: DictConfig) -> Objective:
    """Build the objective and run its ``validate()``: a ValueError from either becomes one line.

    Each objective checks its own parameters (``Objective.validate``, e.g. k > 0 for ``cosine``),
    naming the key, the value and what is allowed; this only turns that into a ``ConfigError``.
    """
    objective = built(lambda: instantiate(objective_cfg))
    validate = getattr(objective, "validate", None)
    if validate is not None:
        built(validate)
    return objective


def check_n_samples(estimator: Estimator, n_samples: int) -> None:
    """``n_samples`` against what the estimator needs (say, 2 for a leave-one-out baseline)."""
    if n_samples < estimator.min_samples:
        raise ConfigError(
            f"bad value n_samples={n_samples}: must be an integer >= {estimator.min_samples} "
            f"for estimator={estimator.name}"
        )


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


def check_compile(cfg: DictConfig, estimator: Estimator) -> None:
    """``compile`` applies to an estimator without state: the compiled step is a pure function."""
    if cfg.get("compile", False) and estimator.stateful:
        raise ConfigError(
            f"bad value compile=true: estimator={estimator.name} keeps state "
            "across steps; compile applies to estimators without state"
        )


def with_trick(cfg: DictConfig, estimator: Estimator, family: Family) -> Estimator:
    """The estimator with the run's draws and control variate (``estimators/reduction.py``),
    each checked against the estimator, the family and n."""
    if "control_variate" not in cfg:  # a config composed without the group: none
        return estimator
    control = built(lambda: instantiate(cfg.control_variate))
    trick = built(lambda: reduced(estimator, family.draws, control, family.name, cfg.n_samples))
    if cfg.get("compile", False) and control.name != NoControl.name:
        raise ConfigError(
            f"bad value compile=true: control_variate={control.name} is not compiled (the delta method "
            "differentiates f twice, which torch.compile's autograd does not support; a moving average "
            "keeps state); compile applies to control_variate=none"
        )
    if trick is not estimator and cfg.variance_draws:
        raise ConfigError(
            f"bad value variance_draws={cfg.variance_draws}: its extra draws measure an independent "
            f"single-sample estimator; with draws={family.draws.name} and control_variate={control.name} "
            "it must be 0"
        )
    return trick


def check_train_config(cfg: DictConfig) -> Parts:
    """Every check that applies to a ``train.py`` config, on the config and then on the parts built
    from it, once each; raises the first ``ConfigError``, or returns the parts."""
    check_config(cfg)
    estimator = built(lambda: estimator_of(cfg.estimator))
    check_n_samples(estimator, cfg.n_samples)
    objective = check_objective(cfg.objective)
    family = built(lambda: build(cfg))
    built(lambda: family.check(cfg, objective, estimator))
    estimator = with_trick(cfg, estimator, family)
    check_device(cfg.device)
    check_compile(cfg, estimator)
    return Parts(objective, family, estimator)
