"""The Bernoulli family through training and its commands: the unbiased estimators pass the Concrete
stall, state is fresh per run, the extra variance draws, the learned η and τ in TensorBoard, and the
``relax_toy`` preset and ``bernoulli_table`` as real commands."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from reparam_opt.training import train
from tests.bernoulli_cases import (
    Z,
    enumerated,
    reinforce,
    variance_se,
)


def test_unbiased_estimators_pass_the_concrete_stall_and_concrete_stays_at_it(
    make_cfg, tmp_path: Path
) -> None:
    """t = 0.45, Adam lr 0.05, 400 steps from θ = 0: REFERENCE's Concrete (τ = ½) stalls at θ = −0.596,
    straight-through at −0.381; the unbiased estimators keep going towards −∞."""
    common = ("family=bernoulli", "optimizer=adam", "lr=0.05", "steps=400", "replicates=128")
    median = {}
    for name, n in [
        ("score", 1),
        ("score_baseline", 2),
        ("score_ema", 1),
        ("rebar", 1),
        ("relax", 1),
        ("exact", 1),
        ("concrete", 1),
        ("straight_through", 1),
    ]:
        summary = train(make_cfg(*common, f"estimator={name}", f"n_samples={n}"), tmp_path / name)
        assert summary["diverged"] == 0
        median[name] = summary["final_theta_median"]
    for name in ("score", "score_baseline", "score_ema", "rebar", "relax", "exact"):
        assert median[name] < -0.596 - 1.0, median
    assert -0.596 - 0.3 < median["concrete"] < -0.596 + 0.3, median
    assert -0.381 - 0.3 < median["straight_through"] < -0.381 + 0.3, median


def test_moving_average_state_is_fresh_per_run(make_cfg, tmp_path: Path) -> None:
    """Two runs of one config give the same numbers: the baseline starts at 0 in each."""
    cfg = make_cfg("family=bernoulli", "estimator=score_ema", "n_samples=1", "steps=30", "replicates=8")
    first, second = train(cfg, tmp_path / "a"), train(cfg, tmp_path / "b")
    assert first["final_theta_median"] == second["final_theta_median"]


def test_one_sample_log_variance_comes_from_extra_draws(make_cfg, tmp_path: Path) -> None:
    """With n = 1, ``variance_draws`` draws at each logged step give grad/log_variance; at θ = 0 that
    is ln 0.0159391 = −4.139 for REINFORCE at t = 0.45 (REFERENCE). The update does not see them:
    the θ path is the same with and without."""
    from tests.conftest import scalars

    base = ("family=bernoulli", "estimator=score", "n_samples=1", "steps=3", "replicates=4000")
    with_draws = train(make_cfg(*base, "variance_draws=50"), tmp_path / "draws")
    plain = train(make_cfg(*base), tmp_path / "plain")
    assert with_draws["final_theta_median"] == plain["final_theta_median"]
    assert scalars(tmp_path / "draws")["theta/mean"] == scalars(tmp_path / "plain")["theta/mean"]
    logged = scalars(tmp_path / "draws")
    step0 = dict(logged["grad/log_variance"])[0]
    # The mean over 4000 replicates of each one's sample variance of 50 draws, on a log scale.
    _, var, m4 = enumerated(0.0, 0.45, 1, reinforce(0.45))
    se = variance_se(var, m4, 50) / math.sqrt(4000) / var
    assert abs(step0 - math.log(var)) < Z * se
    assert "grad/log_variance" not in scalars(tmp_path / "plain")


def test_learned_eta_and_tau_reach_tensorboard(make_cfg, tmp_path: Path) -> None:
    from tests.conftest import scalars

    cfg = make_cfg("family=bernoulli", "estimator=rebar", "estimator.learn=true", "n_samples=1", "steps=20")
    train(cfg, tmp_path)
    logged = scalars(tmp_path)
    assert dict(logged["estimator/eta"])[0] == pytest.approx(1.0) and len(logged["estimator/tau"]) == 21


@pytest.mark.slow
def test_bernoulli_table_command(tmp_path: Path) -> None:
    from tests.conftest import ROOT
    from tests.regression import command

    text = command("-m", "reparam_opt.bernoulli_table", "--replicates", "4000", "--theta", "0", cwd=ROOT)
    rows = [line for line in text.splitlines() if line.startswith("| 0 | ")]
    assert len(rows) == 8 and "| concrete | 0.5 |" in text and "-0.596" in text


@pytest.mark.slow
def test_relax_toy_preset_runs_and_summarises(tmp_path: Path) -> None:
    """The preset through the real command, shortened: every arm finishes and the summary reports
    the exact loss, with the figure's log-variance panel fed."""
    from tests.conftest import run_train, scalars

    result = run_train(
        "-m",
        "+experiment=relax_toy",
        "steps=60",
        "replicates=4",
        "seed=0",
        f"hydra.sweep.dir={tmp_path}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    text = (tmp_path / "summary.md").read_text()
    assert "final_objective" in text and text.count("| arm=") == 10
    assert "grad/log_variance" in scalars(next(tmp_path.glob("+arm=relax*")))
