"""Bad input: every row of docs/reference.md's "Bad input" table, in-process (through ``train.py`` in
test_validation_runs.py): the checks, the unknown keys, and the one line for Hydra's own
composition errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from hydra.errors import HydraException
from omegaconf import OmegaConf
from torch import Tensor

from reparam_opt.estimators import estimator
from reparam_opt.objectives import Square
from reparam_opt.training import train
from reparam_opt.training.cli import error_line
from reparam_opt.training.known_keys import known_keys
from reparam_opt.training.validation import ConfigError, check_objective, check_train_config


@estimator(f_evals_per_sample=1, min_samples=2)
def pairwise(cost, q, n_samples: int) -> Tensor:
    """A stand-in for an estimator that needs two samples, such as a leave-one-out baseline."""
    return torch.zeros(*q.loc.shape[:-1], n_samples, q.loc.shape[-1])


class Bump(Square):
    """An objective that checks its parameter in its constructor rather than in ``validate()``."""

    def __init__(self, k: float) -> None:
        if not k > 0:
            raise ValueError(f"objective.k={k} is not allowed: k must be > 0")


ROWS = [  # (override, the line it must produce)
    ("n_samples=0", "bad value n_samples=0: must be an integer >= 1 for estimator=pathwise"),
    ("steps=0", "bad value steps=0: must be an integer >= 1"),
    ("replicates=0", "bad value replicates=0: must be an integer >= 1"),
    ("lr=0", "bad value lr=0.0: must be a finite number > 0"),
    ("lr=-0.1", "bad value lr=-0.1: must be a finite number > 0"),
    ("lr=nan", "bad value lr=nan: must be a finite number > 0"),
    ("lr=inf", "bad value lr=inf: must be a finite number > 0"),
    ("sigma=0", "bad value sigma=0.0: must be a finite number > 0"),
    ("sigma=-1", "bad value sigma=-1.0: must be a finite number > 0"),
    ("sigma=inf", "bad value sigma=inf: must be a finite number > 0"),
    ("sigma=nan", "bad value sigma=nan: must be a finite number > 0"),
    ("theta0=nan", "bad value theta0=nan: must be a finite number"),
    ("theta0=-inf", "bad value theta0=-inf: must be a finite number"),
    ("tolerance=0", "bad value tolerance=0.0: must be a finite number > 0"),
    ("log_every=0", "bad value log_every=0: must be null or an integer >= 1"),
    ("histogram_every=0", "bad value histogram_every=0: must be null or an integer >= 1"),
    ("threads=0", "bad value threads=0: must be null or an integer >= 1"),
    (
        "return_metric=loss",
        "bad value return_metric=loss: must be null or one of steps_to_tolerance, "
        "final_rms_error, stationary_rms, path_length_ratio, diverged, final_objective",
    ),
    ("device=tpu", "bad value device=tpu: must be cpu, cuda or cuda:<index>"),
    (
        "objective=cosine objective.k=0",
        "objective.k=0.0 is not allowed for objective=cosine: k must be a finite number > 0",
    ),
    (
        "objective=gaussian_bump objective.k=-1",
        "objective.k=-1.0 is not allowed for objective=gaussian_bump: k must be a finite number > 0",
    ),
    (
        "objective=shifted_square objective.k=nan",
        "objective.k=nan is not allowed for objective=shifted_square: k must be a finite number",
    ),
    (
        "estimator=score_baseline n_samples=1",
        "bad value n_samples=1: must be an integer >= 2 for estimator=score_baseline",
    ),
    ("dim=0", "bad value dim=0: must be an integer >= 1"),
    ("scale=log", "bad value scale=log: must be one of fixed, shared, diagonal"),
    ("entropy_weight=-1", "bad value entropy_weight=-1.0: must be a finite number >= 0"),
    ("entropy_weight=nan", "bad value entropy_weight=nan: must be a finite number >= 0"),
    ("entropy_weight=inf", "bad value entropy_weight=inf: must be a finite number >= 0"),
    ("scale=shared sigma=0", "bad value sigma=0.0: must be a finite number > 0"),
    ("scale=diagonal sigma=nan", "bad value sigma=nan: must be a finite number > 0"),
    (
        "family=bernoulli estimator=pathwise",
        "bad value estimator=pathwise: it does not apply to family=bernoulli, since b is discrete, so "
        "f(b) has no path to θ to differentiate; use concrete or straight_through for a relaxed "
        "gradient, or score or score_baseline for an unbiased one",
    ),
    (
        "family=bernoulli estimator=measure_valued",
        "bad value estimator=measure_valued: it does not apply to family=bernoulli, since its weak "
        "derivative is the Gaussian's; on a Bernoulli the exact gradient is one difference "
        "f(1) − f(0), which estimator=exact computes",
    ),
    ("estimator=concrete", "bad value estimator=concrete: it applies to family=bernoulli only, b in {0, 1}"),
    (
        "family=bernoulli objective=square",
        "bad value objective=square: it applies to family=gaussian only; "
        "family=bernoulli takes objective=target",
    ),
    (
        "objective=target",
        "bad value objective=target: it applies to family=bernoulli only; family=gaussian takes "
        "objective=cosine, gaussian_bump, linear_regression, logistic_regression, quadratic, "
        "shifted_square or square",
    ),
    (
        "family=bernoulli dim=3",
        "bad value dim=3: it applies to family=gaussian only; family=bernoulli must leave it at 1",
    ),
    (
        "family=bernoulli sigma=2",
        "bad value sigma=2.0: it applies to family=gaussian only; family=bernoulli must leave it at 1.0",
    ),
    (
        "family=bernoulli tolerance=0.01",
        "bad value tolerance=0.01: it applies to family=gaussian only; "
        "family=bernoulli must leave it at 0.35",
    ),
    (
        "family=bernoulli return_metric=final_rms_error",
        "bad value return_metric=final_rms_error: family=bernoulli returns one of "
        "final_objective, path_length_ratio, diverged",
    ),
    (
        "return_metric=final_objective",
        "bad value return_metric=final_objective: family=gaussian returns one of "
        "steps_to_tolerance, final_rms_error, stationary_rms, path_length_ratio, diverged",
    ),
    (
        "family=bernoulli estimator=concrete estimator.tau=0",
        "bad value estimator.tau=0.0: must be a finite number > 0",
    ),
    (
        "family=bernoulli estimator=straight_through estimator.tau=nan",
        "bad value estimator.tau=nan: must be a finite number > 0",
    ),
    (
        "family=bernoulli estimator=rebar estimator.eta=nan",
        "bad value estimator.eta=nan: must be a finite number",
    ),
    (
        "family=bernoulli estimator=score_ema estimator.decay=1",
        "bad value estimator.decay=1.0: must be a number in [0, 1)",
    ),
    ("variance_draws=1", "bad value variance_draws=1: must be 0, or an integer >= 2"),
    ("max_batch_elements=0", "bad value max_batch_elements=0: must be an integer >= 1"),
    (
        "family=bernoulli estimator=relax compile=true",
        "bad value compile=true: estimator=relax keeps state across steps; "
        "compile applies to estimators without state",
    ),
    (
        "family=bernoulli estimator=relax estimator.control_lr=0",
        "bad value estimator.control_lr=0.0: must be a finite number > 0",
    ),
    (
        "family=bernoulli objective.t=nan",
        "objective.t=nan is not allowed for objective=target: t must be a finite number",
    ),
    (
        "family=bernoulli estimator=score_baseline n_samples=1",
        "bad value n_samples=1: must be an integer >= 2 for estimator=score_baseline",
    ),
    ("+estimater=score", "unknown key estimater: the nearest known key is estimator"),
    (
        "family=bernoulli estimator=concrete +tau=2",
        "unknown key tau: the nearest known key is estimator.tau",
    ),
    (
        "+optimizer.momentun=0.9",
        "unknown key optimizer.momentun: the nearest known key is optimizer.momentum",
    ),
]


@pytest.mark.parametrize(("override", "line"), ROWS)
def test_each_bad_value_names_key_value_and_what_is_allowed(make_cfg, override: str, line: str) -> None:
    with pytest.raises(ConfigError) as error:
        check_train_config(make_cfg(*override.split()))
    assert str(error.value) == line


def test_the_defaults_and_edge_values_pass(make_cfg) -> None:
    check_train_config(make_cfg())
    check_train_config(make_cfg("n_samples=1", "steps=1", "replicates=1", "log_every=1000", "theta0=-5"))


def test_an_estimator_that_needs_two_samples(make_cfg) -> None:
    cfg = make_cfg(f"estimator._target_={__name__}.pairwise", "n_samples=1")
    line = r"^bad value n_samples=1: must be an integer >= 2 for estimator=pairwise$"
    with pytest.raises(ConfigError, match=line):
        check_train_config(cfg)
    check_train_config(make_cfg(f"estimator._target_={__name__}.pairwise", "n_samples=2"))


def test_objective_constructor_value_error_becomes_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^objective\.k=0\.0 is not allowed: k must be > 0$"):
        check_objective(OmegaConf.create({"_target_": f"{__name__}.Bump", "k": 0.0}))
    check_objective(OmegaConf.create({"_target_": f"{__name__}.Bump", "k": 1.0}))


def test_cuda_without_cuda(make_cfg, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = "^bad value device=cuda: CUDA is not available on this machine, so it must be cpu$"
    with pytest.raises(ConfigError, match=line):
        check_train_config(make_cfg("device=cuda"))


def test_bad_value_stops_before_any_work(make_cfg, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        train(make_cfg("lr=nan"), tmp_path)
    assert not list(tmp_path.iterdir())  # no event file, no summary.json


def test_a_target_that_is_not_an_estimator(make_cfg) -> None:
    line = (
        "^bad value estimator._target_=torch.randn: must name an Estimator, "
        "such as reparam_opt.estimators.score$"
    )
    with pytest.raises(ConfigError, match=line):
        check_train_config(make_cfg("estimator._target_=torch.randn"))


def test_a_new_node_is_named_as_typed_with_the_nearest_known_key(make_cfg) -> None:
    with pytest.raises(ConfigError) as error:
        check_train_config(make_cfg("+foo.bar=1"))
    found = re.fullmatch(r"unknown key foo\.bar: the nearest known key is (\S+)", str(error.value))
    assert found and found[1] in known_keys(make_cfg())


def test_known_keys_are_the_schemas_fields_each_once(make_cfg) -> None:
    keys = known_keys(make_cfg("family=bernoulli", "estimator=rebar", "optimizer=adam"))
    assert len(keys) == len(set(keys))
    assert {
        "estimator.eta",
        "estimator.learn",
        "objective.t",
        "optimizer.betas",
        "family.name",
        "steps",
    } < set(keys)
    assert "optimizer.momentum" not in keys  # SGD's, not Adam's


#: The estimator group's options, as Hydra lists them (no schema among them).
ESTIMATORS = ", ".join(
    ("concrete", "exact", "measure_valued", "pathwise", "rebar", "relax")
    + ("score", "score_baseline", "score_ema", "stl", "straight_through", "trace_elbo")
)

COMPOSITION_ROWS = [  # (overrides, the one line for Hydra's error)
    ("estimator=nonsense", f"bad value estimator=nonsense: must be one of {ESTIMATORS}"),
    ("estimator=estimator_schema", f"bad value estimator=estimator_schema: must be one of {ESTIMATORS}"),
    ("optimizer=sgd_schema", "bad value optimizer=sgd_schema: must be one of adam, sgd"),
    ("lr=fast", "bad value lr=fast: Value 'fast' of type 'str' could not be converted to Float"),
    ("steps=abc", "bad value steps=abc: Value 'abc' of type 'str' could not be converted to Integer"),
    ("dim=1.5", "bad value dim=1.5: Value '1.5' of type 'float' could not be converted to Integer"),
    ("steps=null", "bad value steps=null: field 'steps' is not Optional"),
    ("seeds=1", "unknown key seeds: the nearest known key is seed"),
    ("family=bernoulli estimator=concrete tau=2", "unknown key tau: the nearest known key is estimator.tau"),
    ("lr=[1", "bad override lr=[1: no viable alternative at input '[1'"),
]


@pytest.mark.parametrize(("overrides", "line"), COMPOSITION_ROWS)
def test_a_composition_error_is_one_line_naming_key_and_value(make_cfg, overrides: str, line: str) -> None:
    with pytest.raises(HydraException) as error:
        make_cfg(*overrides.split())
    assert error_line(error.value) == line
