"""The Bernoulli family through training and its commands: the unbiased estimators pass the Concrete
stall, state is fresh per run, the extra variance draws, the learned η and τ in TensorBoard, and the
``relax_toy`` preset and ``bernoulli_table`` as real commands."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import pytest

from reparam_opt.training import train
from tests.bernoulli_cases import (
    Z,
    enumerated,
    reinforce,
    variance_se,
)


def median_and_se(run_dir: Path, summary: dict, replicates: int, steps: int) -> tuple[float, float]:
    """The replicates' median θ at the last step, and its standard error √(π/2)·sd/√R, the sd read
    off the logged 5% and 95% quantiles as if θ were normal across replicates (0 for a
    deterministic estimator)."""
    from tests.conftest import scalars

    logged = scalars(run_dir)
    (q05_step, q05), (q95_step, q95) = logged["theta/q05"][-1], logged["theta/q95"][-1]
    assert q05_step == q95_step == steps
    sd = (q95 - q05) / (2 * NormalDist().inv_cdf(0.95))
    return summary["final_theta_median"], math.sqrt(math.pi / 2) * sd / math.sqrt(replicates)


@pytest.mark.slow
def test_unbiased_estimators_pass_the_concrete_stall_and_concrete_stays_at_it(
    make_cfg, tmp_path: Path
) -> None:
    """t = 0.45, Adam lr 0.05, 400 steps from θ = 0, 128 replicates: Concrete (τ = ½) and
    straight-through end within Z standard errors of their median of the θ where their expected
    gradient is zero (bernoulli_table's quadrature: −0.5956 and −0.3810, REFERENCE −0.596 and
    −0.381); the unbiased estimators end more than Z standard errors of their own median below
    Concrete's stall, on their way to −∞.

    The band is statistical only: the standard error is read off the logged 5–95% quantiles, which
    over many seeds matches the median's spread across seeds; Adam settles a little below the stall
    (a fraction of a standard error at 128 replicates), so more replicates would narrow the band
    towards that bias rather than make the test sharper.
    """
    from reparam_opt.bernoulli_table import stall

    replicates, steps = 128, 400
    common = ("family=bernoulli", "optimizer=adam", "lr=0.05", f"steps={steps}", f"replicates={replicates}")
    ended, stalls = {}, {}
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
        cfg = make_cfg(*common, f"estimator={name}", f"n_samples={n}")
        summary = train(cfg, tmp_path / name)
        assert summary["diverged"] == 0
        ended[name] = median_and_se(tmp_path / name, summary, replicates, steps)
        if name in ("concrete", "straight_through"):
            stalls[name] = stall(name, cfg.objective.t, cfg.estimator.tau)
    for name in ("concrete", "straight_through"):
        median, se = ended[name]
        assert abs(median - stalls[name]) < Z * se, (name, ended[name], stalls[name])
    for name in ("score", "score_baseline", "score_ema", "rebar", "relax", "exact"):
        median, se = ended[name]
        assert median + Z * se < stalls["concrete"], (name, ended, stalls)


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
