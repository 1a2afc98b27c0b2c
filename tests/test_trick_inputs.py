"""Bad input to the variance-reduction groups (``draws``, ``control_variate``): one line naming the key
and the value, before any work, from ``train.py`` (``check_train_config``, as test_validation.py)
and from the variance study (``study``, as test_entry_points.py); then once each through the real
command, for the exit status and the single line on stderr. And the cases that work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from reparam_opt.training import train
from reparam_opt.training.validation import ConfigError, check_train_config
from reparam_opt.variance.config import register_variance_configs
from reparam_opt.variance.study import study
from tests.conftest import ROOT, compose_config, run_train

register_variance_configs()

Z = 4.0

#: The delta method's refusal of an estimator that is not a Monte Carlo estimate of ∇E_q f.
NOT_MONTE_CARLO = (
    "bad value control_variate=delta: estimator={} is not a Monte Carlo estimate of ∇E_q f; "
    "use score, score_baseline, pathwise or measure_valued"
)
#: Leave-one-out β with too few units.
TOO_FEW_UNITS = (
    "bad value n_samples=2: control_variate=delta with coefficient_samples=0 estimates β leaving one "
    "unit out, so it needs 3 or more independent units (draws=iid gives 2); raise n_samples or set "
    "control_variate.coefficient_samples=25"
)
#: The moving average's refusal of an estimator whose terms a constant does not move.
NO_BASELINE = (
    "bad value control_variate=moving_average: estimator={}'s terms do not change when a constant is "
    "subtracted from f; it applies to estimator=score"
)
ODD = "bad value n_samples={}: draws=antithetic needs an even number (pairs)"
NOT_A_MULTIPLE = "bad value n_samples=8: draws=sobol with draws.scrambles=3 needs a multiple of the scrambles"
NO_SCRAMBLES = "bad value draws.scrambles=0: must be an integer >= 1"

TRAIN_ROWS = [  # (overrides, the line)
    ("draws=antithetic n_samples=3", ODD.format(3)),
    ("draws=sobol draws.scrambles=3 n_samples=8", NOT_A_MULTIPLE),
    ("draws=sobol draws.scrambles=0", NO_SCRAMBLES),
    ("control_variate=delta estimator=exact", NOT_MONTE_CARLO.format("exact")),
    ("control_variate=delta estimator=stl", NOT_MONTE_CARLO.format("stl")),
    ("control_variate=delta n_samples=2", TOO_FEW_UNITS),
    (
        "control_variate=delta control_variate.coefficient_samples=1",
        "bad value control_variate.coefficient_samples=1: must be 0, or an integer >= 2",
    ),
    ("control_variate=moving_average estimator=pathwise", NO_BASELINE.format("pathwise")),
    (
        "control_variate=moving_average estimator=score control_variate.decay=1",
        "bad value control_variate.decay=1.0: must be a number in [0, 1)",
    ),
    (
        "family=bernoulli estimator=score draws=sobol",
        "bad value draws=sobol: family=bernoulli draws b independently; antithetic and Sobol' draws "
        "apply to family=gaussian only",
    ),
    (
        "family=bernoulli estimator=score control_variate=delta",
        "bad value control_variate=delta: it applies to family=gaussian only (a Taylor expansion needs "
        "x real); family=bernoulli",
    ),
    (
        "variance_draws=10 n_samples=1 draws=sobol",
        "bad value variance_draws=10: its extra draws measure an independent single-sample estimator; "
        "with draws=sobol and control_variate=none it must be 0",
    ),
    *[
        (
            f"compile=true control_variate={control} estimator=score n_samples=8",
            f"bad value compile=true: control_variate={control} is not compiled (the delta method "
            "differentiates f twice, which torch.compile's autograd does not support; a moving average "
            "keeps state); compile applies to control_variate=none",
        )
        for control in ("moving_average", "delta")
    ],
]


def names_key_and_value(line: str, overrides: str) -> bool:
    """One line, starting ``bad value key=value`` with that pair among the overrides typed (a number
    as the schema prints it: decay=1 is decay=1.0)."""
    found = re.match(r"(?:estimators\.\w+: )?bad value ([\w.]+)=(\S+?):", line)
    if "\n" in line or not found:
        return False
    key, value = found.groups()
    typed = dict(o.split("=", 1) for o in overrides.split() if not o.startswith(("+", "~")))
    if key not in typed:
        return False
    given = typed[key].strip("[]").split(",")  # a swept key's list: the line names one of its values
    return value in given or any(float(v) == float(value) for v in given)


@pytest.mark.parametrize(("overrides", "line"), TRAIN_ROWS)
def test_train_refuses_each_bad_trick_in_one_line(make_cfg, overrides: str, line: str) -> None:
    with pytest.raises(ConfigError) as error:
        check_train_config(make_cfg(*overrides.split()))
    assert str(error.value) == line
    assert names_key_and_value(line, overrides)


#: The study at one point, so that n is the ``n_samples`` typed (the default sweep is over n).
AT_ONE_POINT = "sweep=theta sweep.points=[1] repetitions=5"

VARIANCE_ROWS = [  # (overrides, the line); every estimator compared gets the trick
    (f"{AT_ONE_POINT} draws=antithetic n_samples=3", "estimators.score: " + ODD.format(3)),
    (  # a swept n: the line names the sweep's key
        "draws=antithetic sweep.points=[4,7]",
        "estimators.score: " + ODD.format(7).replace("n_samples=", "sweep.points="),
    ),
    (f"{AT_ONE_POINT} draws=sobol draws.scrambles=3 n_samples=8", "estimators.score: " + NOT_A_MULTIPLE),
    (f"{AT_ONE_POINT} draws=sobol draws.scrambles=0", NO_SCRAMBLES),  # the schema's bound
    (
        f"{AT_ONE_POINT} control_variate=delta +estimator@estimators.exact=exact",
        "estimators.exact: " + NOT_MONTE_CARLO.format("exact"),
    ),
    (
        f"{AT_ONE_POINT} control_variate=delta +estimator@estimators.stl=stl",
        "estimators.stl: " + NOT_MONTE_CARLO.format("stl"),
    ),
    (f"{AT_ONE_POINT} control_variate=delta n_samples=2", "estimators.score: " + TOO_FEW_UNITS),
    (
        f"{AT_ONE_POINT} control_variate=delta control_variate.coefficient_samples=1",
        "bad value control_variate.coefficient_samples=1: must be 0, or an integer >= 2",
    ),
    (
        f"{AT_ONE_POINT} control_variate=moving_average",
        "estimators.pathwise: " + NO_BASELINE.format("pathwise"),
    ),
]


@pytest.mark.parametrize(("overrides", "line"), VARIANCE_ROWS)
def test_variance_study_refuses_each_bad_trick_in_one_line(overrides: str, line: str) -> None:
    with pytest.raises(ValueError) as error:
        study(compose_config("variance", *overrides.split()))
    assert str(error.value) == line
    assert names_key_and_value(line, overrides) or "sweep.points" in overrides


@pytest.mark.parametrize("decay", ["1", "-0.5"])
def test_variance_study_refuses_a_decay_outside_the_unit_interval(decay: str) -> None:
    cfg = compose_config(
        "variance",
        *AT_ONE_POINT.split(),
        "control_variate=moving_average",
        "~estimator@estimators.pathwise",
        f"control_variate.decay={decay}",
    )
    try:
        study(cfg)
        line = None
    except ValueError as error:
        line = str(error)
    assert (
        line is not None
        and f"bad value control_variate.decay={float(decay)}: must be a number in [0, 1)" in line
    )


def test_leave_one_out_too_few_units_then_coefficient_samples_works(make_cfg, tmp_path: Path) -> None:
    """n = 2 is refused for the leave-one-out β, and the line's own advice makes both apps run: a
    short train.py run, and the study on the square, where the delta method leaves no variance."""
    overrides = ("control_variate=delta", "n_samples=2", "control_variate.coefficient_samples=25")
    cfg = make_cfg(*overrides, "steps=3", "replicates=2")
    check_train_config(cfg)
    assert train(cfg, tmp_path)["status"] == "completed"
    rows = study(compose_config("variance", *AT_ONE_POINT.split(), *overrides, "dtype=float64"))
    assert [r["estimator"] for r in rows] == ["score", "pathwise"]
    for row in rows:
        assert row["closed_form"] == 0.0
        assert row["variance"] < 1e-24  # 2μ exactly, to float64 rounding (measured: 0.0)
        assert row["mean"] == pytest.approx(2.0, rel=1e-12)


@pytest.mark.slow
def test_train_py_exits_with_the_one_line(tmp_path: Path) -> None:
    result = run_train("draws=antithetic", "n_samples=3", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [ODD.format(3)]
    assert not list(tmp_path.glob("outputs/runs/*/*/events.out.tfevents.*"))


@pytest.mark.slow
def test_variance_command_exits_with_the_one_line(tmp_path: Path) -> None:
    args = [*AT_ONE_POINT.split(), "draws=sobol", "draws.scrambles=3", "n_samples=8"]
    result = subprocess.run(
        [sys.executable, "-m", "reparam_opt.variance", *args, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["estimators.score: " + NOT_A_MULTIPLE]
    assert not (tmp_path / "run" / "variance.csv").exists()
