"""The logged Monte Carlo loss against J, 4 standard errors, at step 0, where every replicate sits
at θ0 and the R·m values are independent draws of f (or of f − λH) under q_0 (m draws per
replicate, ``draws_per_replicate``)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from reparam_opt.training import train
from reparam_opt.training.loss import draws_per_replicate
from tests.conftest import scalars

Z = 4.0


def at_step_zero(run_dir: Path) -> dict[str, float]:
    return {tag: rows[0][1] for tag, rows in scalars(run_dir).items() if rows[0][0] == 0}


def test_the_loss_meets_j_and_its_standard_error_is_the_spread_of_f(make_cfg, tmp_path: Path) -> None:
    """f = x², x ~ N(θ0, σ²): J = θ0² + σ², Var f = 4θ0²σ² + 2σ⁴; the standard error of the logged
    mean of N = R·m values is √(Var f / N), and the logged one is a sample estimate of it whose
    relative error is about √((κ − 1)/(4N)) for the kurtosis κ of f."""
    replicates, n, theta0 = 2000, 4, 3.0
    train(make_cfg(f"replicates={replicates}", f"n_samples={n}", "steps=2", "log_every=1"), tmp_path)
    start = at_step_zero(tmp_path)
    size = replicates * draws_per_replicate(replicates, n)
    var_f = 4 * theta0**2 + 2
    assert start["objective/mean"] == pytest.approx(theta0**2 + 1, rel=1e-6)
    assert abs(start["loss/monte_carlo"] - start["objective/mean"]) < Z * math.sqrt(var_f / size)
    torch.manual_seed(0)
    f = (theta0 + torch.randn(10**6, dtype=torch.float64)).square()
    kurtosis = float(((f - f.mean()) ** 4).mean() / f.var() ** 2)
    relative = Z * math.sqrt((kurtosis - 1) / (4 * size))
    assert start["loss/monte_carlo_se"] == pytest.approx(math.sqrt(var_f / size), rel=relative)


def test_the_loss_carries_the_entropy_term(make_cfg, tmp_path: Path) -> None:
    """J_λ = E[f] − λH: the logged loss subtracts λH exactly, so it meets ``objective/mean``."""
    replicates, n, dim, sigma, weight = 1000, 4, 3, 1.5, 2.0
    cfg = make_cfg(
        f"replicates={replicates}",
        f"n_samples={n}",
        f"dim={dim}",
        "scale=diagonal",
        f"sigma={sigma}",
        f"entropy_weight={weight}",
        "theta0=1",
        "steps=2",
        "log_every=1",
    )
    train(cfg, tmp_path)
    start = at_step_zero(tmp_path)
    var_f = dim * (4 * sigma**2 + 2 * sigma**4)  # f = ‖x‖², d = 1 in each coordinate
    size = replicates * draws_per_replicate(replicates, n)
    assert abs(start["loss/monte_carlo"] - start["objective/mean"]) < Z * math.sqrt(var_f / size)


def test_the_bernoulli_loss_meets_the_enumeration(make_cfg, tmp_path: Path) -> None:
    """f(b) = (b − t)², b ~ Bernoulli(½) at θ0 = 0: J = (t² + (1 − t)²)/2, Var f = ((1 − t)² − t²)²/4."""
    t, replicates, n = 0.45, 4000, 2
    train(make_cfg("family=bernoulli", f"replicates={replicates}", f"n_samples={n}", "steps=2"), tmp_path)
    start = at_step_zero(tmp_path)
    var_f = ((1 - t) ** 2 - t**2) ** 2 / 4
    assert start["objective/mean"] == pytest.approx((t**2 + (1 - t) ** 2) / 2, rel=1e-6)
    size = replicates * draws_per_replicate(replicates, n)
    assert abs(start["loss/monte_carlo"] - start["objective/mean"]) < Z * math.sqrt(var_f / size)


def test_the_loss_draws_at_most_its_budget_or_one_per_replicate() -> None:
    assert draws_per_replicate(256, 2) == 2  # the default run: n each
    assert draws_per_replicate(1000, 1000) == 4  # a large step: 4000 draws, not 10⁶
    assert draws_per_replicate(40000, 2) == 1


def test_diverged_replicates_leave_the_loss(make_cfg, tmp_path: Path) -> None:
    """Replicates thrown out past the bound are left out, so every logged step still has a loss."""
    cfg = make_cfg("estimator=score", "n_samples=1", "theta0=6", "replicates=64", "steps=60", "log_every=1")
    summary = train(cfg, tmp_path)
    assert 0 < summary["diverged"] < 64
    series = scalars(tmp_path)
    assert [step for step, _ in series["loss/monte_carlo"]] == list(range(61))
    assert all(math.isfinite(value) for _, value in series["loss/monte_carlo"])
