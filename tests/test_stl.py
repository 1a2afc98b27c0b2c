"""The entropy's gradient three ways (exact, through the sample, sticking the landing), against
the closed forms at Bayesian linear regression's mean-field optimum, 4 standard errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from reparam_opt.estimators import ESTIMATORS
from reparam_opt.families import GaussianFamily
from reparam_opt.families.gaussian import Gaussian
from reparam_opt.objectives import Square
from reparam_opt.objectives.linear_regression import LinearRegression
from reparam_opt.training import train
from reparam_opt.training.validation import ConfigError, check_train_config

Z = 4.0


def optimal_q(model: LinearRegression, replicates: int) -> Gaussian:
    """The best mean-field q: μ = w*, σ_j² = 1/Λ_jj, a diagonal learned scale."""
    loc = model.w_star.expand(replicates, -1).clone()
    scale = model.precision.diagonal().rsqrt().expand(replicates, -1).clone()
    return Gaussian(loc, scale, "diagonal")


def within(terms: torch.Tensor, expected: torch.Tensor) -> bool:
    """Each coordinate's sample variance within 4 standard errors (from the fourth moment); where
    the closed form is 0 (STL's intercept, uncorrelated with the standardised features), zero to
    float64 rounding."""
    centred = terms - terms.mean(0)
    variance, m4 = centred.square().mean(0), centred.pow(4).mean(0)
    se = ((m4 - variance.square()) / len(terms)).sqrt()
    zero = expected == 0
    return bool(((variance - expected).abs() < Z * se)[~zero].all() and (variance[zero] < 1e-20).all())


@pytest.mark.parametrize("name", ["pathwise", "trace_elbo", "stl"])
def test_variances_at_the_mean_field_optimum_meet_the_closed_forms(name: str) -> None:
    """With r_ik = Λ_ik/√(Λ_ii Λ_kk) and ρ_i = Σ_{k≠i} r_ik²: pathwise (entropy exact) and through
    the sample have Var ĝ_m,i = Λ_ii(1 + ρ_i), Var ĝ_s,i = 2 + ρ_i; STL Λ_ii ρ_i and ρ_i."""
    model = LinearRegression()
    precision = model.precision
    diagonal = precision.diagonal()
    r = precision / (diagonal.unsqueeze(0) * diagonal.unsqueeze(1)).sqrt()
    rho = r.square().sum(1) - 1.0
    if name == "stl":
        expected = torch.cat([diagonal * rho, rho])
    else:
        expected = torch.cat([diagonal * (1 + rho), 2 + rho])
    estimator = ESTIMATORS[name]
    options = {"entropy_weight": 1.0} if estimator.includes_entropy else {}  # pathwise: the loop's λ
    torch.manual_seed(11)
    terms = estimator(model, optimal_q(model, 200), 100, **options).reshape(-1, 22)
    assert within(terms, expected)


def test_through_the_sample_is_pathwise_plus_the_exact_entropy_gradient() -> None:
    """log q's two paths cancel for a Gaussian: the same draws give pathwise's terms, less λ in
    each s-coordinate, to rounding."""
    model, weight = LinearRegression(), 1.5
    q = Gaussian(
        torch.zeros(3, 11, dtype=torch.float64), torch.full((3, 11), 0.2, dtype=torch.float64), "diagonal"
    )
    torch.manual_seed(4)
    through = ESTIMATORS["trace_elbo"](model, q, 50, entropy_weight=weight)
    torch.manual_seed(4)
    pathwise = ESTIMATORS["pathwise"](model, q, 50)
    entropy = GaussianFamily(dim=11, scale="diagonal", entropy_weight=weight).entropy_grad(q.loc[0])
    assert torch.allclose(through, pathwise + entropy, rtol=1e-10, atol=1e-9)


def test_stl_is_unbiased_off_the_optimum() -> None:
    model, replicates, n = LinearRegression(), 400, 50
    q = Gaussian(
        torch.full((replicates, 11), 0.1, dtype=torch.float64),
        torch.full((replicates, 11), 0.3, dtype=torch.float64),
        "diagonal",
    )
    torch.manual_seed(5)
    terms = ESTIMATORS["stl"](model, q, n, entropy_weight=1.0).reshape(-1, 22)
    exact = torch.cat(
        [model.gradient(q.loc[0], q.scale[0]), model.scale_gradient(q.loc[0], q.scale[0], "diagonal") - 1.0]
    )
    se = terms.std(0) / math.sqrt(len(terms))
    assert ((terms.mean(0) - exact).abs() < Z * se).all()


def test_stl_has_no_variance_where_q_is_the_posterior() -> None:
    """f = ‖x‖², λ = 1: exp(−f) ∝ N(0, ½I), which a Gaussian q reaches exactly."""
    q = Gaussian(
        torch.zeros(4, 3, dtype=torch.float64),
        torch.full((4, 3), math.sqrt(0.5), dtype=torch.float64),
        "diagonal",
    )
    terms = ESTIMATORS["stl"](Square(), q, 100, entropy_weight=1.0)
    assert terms.abs().max() < 1e-12


def test_a_stl_run_lands_on_the_square_optimum(make_cfg, tmp_path: Path) -> None:
    summary = train(
        make_cfg("estimator=stl", "entropy_weight=1", "scale=diagonal", "dim=2", "steps=100"), tmp_path
    )
    assert summary["final_rms_error"] < 1e-6 and summary["final_sigma_rms_error"] < 1e-6


def test_stl_refuses_the_bernoulli_family(make_cfg) -> None:
    with pytest.raises(ConfigError, match="bad value estimator=stl: it does not apply to family=bernoulli"):
        check_train_config(make_cfg("family=bernoulli", "estimator=stl"))
