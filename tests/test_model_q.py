"""A model's best diagonal q as what a run and the variance study measure against: σ* per
coordinate in a run's summary and scalars, and ``q=optimal`` (with ``scale=diagonal``) in the
variance study, against the linear model's closed forms (σ*_j = 1/√Λ_jj at λ = 1)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from reparam_opt.estimators import ESTIMATORS
from reparam_opt.families import build
from reparam_opt.families.gaussian import Gaussian
from reparam_opt.objectives.linear_regression import LinearRegression
from reparam_opt.training import train
from reparam_opt.variance.config import register_variance_configs
from reparam_opt.variance.study import study
from tests.conftest import compose_config, scalars

register_variance_configs()

Z = 4.0
ELBO_RUN = ["objective=linear_regression", "entropy_weight=1", "scale=diagonal", "theta0=0", "sigma=0.1"]


@pytest.mark.parametrize("weight", [1.0, 0.25])
def test_the_family_takes_the_models_best_q(make_cfg, weight: float) -> None:
    cfg = make_cfg(*ELBO_RUN, f"entropy_weight={weight}")
    family, model = build(cfg), LinearRegression()
    precision = model.precision
    sigma = family.sigma_star(model)
    assert torch.allclose(sigma, (weight / precision.diagonal()).sqrt(), rtol=1e-12, atol=0)
    assert torch.allclose(family.optimum(model, 0.0).point(11, dtype=torch.float64), model.w_star)
    # J_λ at the best q is −optimal_elbo at λ = 1; the s-gradient vanishes there at any λ.
    mu = model.w_star
    assert torch.allclose(
        model.scale_gradient(mu, sigma, "diagonal"),
        torch.full((11,), weight, dtype=torch.float64),
        rtol=1e-10,
    )
    if weight == 1.0:
        assert family.objective_star(model, 0.0) == pytest.approx(-model.optimal_elbo(), rel=1e-10)


def test_a_shared_or_unweighted_scale_has_no_vector_sigma_star(make_cfg) -> None:
    model = LinearRegression()
    assert build(make_cfg(*ELBO_RUN, "scale=shared")).sigma_star(model) is None
    assert build(make_cfg(*ELBO_RUN, "entropy_weight=0")).sigma_star(model) is None


@pytest.mark.slow
def test_a_run_reports_sigma_star_per_coordinate(make_cfg, tmp_path: Path) -> None:
    """The exact gradient with Adam ends at the best q: σ's RMS error against σ* is small, and the
    per-step ``scale/rms_error`` falls to it."""
    cfg = make_cfg(*ELBO_RUN, "estimator=exact", "optimizer=adam", "lr=0.01", "steps=1500", "replicates=2")
    summary = train(cfg, tmp_path)
    expected = (1 / LinearRegression().precision.diagonal()).sqrt()
    assert summary["sigma_star"] == pytest.approx(expected.tolist(), rel=1e-6)
    assert summary["final_sigma_rms_error"] < 1e-3 * float(expected.min())
    assert summary["objective_star"] == pytest.approx(-summary["optimal_elbo"], rel=1e-9)
    errors = [value for _, value in scalars(tmp_path)["scale/rms_error"]]
    assert errors[0] == pytest.approx(float((0.1 - expected).square().mean().sqrt()), rel=1e-5)
    assert errors[-1] < 1e-3 * float(expected.min())


def variance_rows(*overrides: str) -> list[dict]:
    cfg = compose_config(
        "variance",
        "objective=linear_regression",
        "q=optimal",
        "scale=diagonal",
        "repetitions=2000",
        "sweep.points=[1]",
        "+estimator@estimators.stl=stl",
        *overrides,
    )
    return study(cfg)


@pytest.mark.slow
def test_the_study_at_the_best_q_meets_the_closed_forms() -> None:
    """At the linear model's best q the pathwise μ-variance is the closed form Λ diag(σ²) Λ's trace,
    per coordinate, within Bonett's pooled interval; STL's is smaller, by REFERENCE's formula:
    Var ĝ_m,i = Λ_ii Σ_{k≠i} r_ik², against pathwise's Λ_ii(1 + Σ_{k≠i} r_ik²)."""
    rows = {row["estimator"]: row for row in variance_rows("dtype=float64")}
    precision = LinearRegression().precision
    diagonal = precision.diagonal()
    r2 = precision.square() / torch.outer(diagonal, diagonal)
    off = r2.sum(1) - 1
    pathwise = float((diagonal * (1 + off)).mean())
    stl = float((diagonal * off).mean())
    assert rows["pathwise"]["closed_form"] == pytest.approx(pathwise, rel=1e-9)
    # Bonett's pooled interval is a normal one: its half-width over 1.96 is the standard error.
    for name, expected in (("pathwise", pathwise), ("stl", stl)):
        row = rows[name]
        se = (row["ci_high"] - row["ci_low"]) / (2 * 1.96)
        assert abs(row["variance"] - expected) < Z * se, (name, row["variance"], expected, se)
    # The s-gradient: pathwise 2 + Σ r², STL Σ r², per coordinate (REFERENCE, "sticking the landing").
    for name, expected in (("pathwise", float((2 + off).mean())), ("stl", float(off.mean()))):
        row = rows[name]
        se = (row["scale_ci_high"] - row["scale_ci_low"]) / (2 * 1.96)
        assert abs(row["scale_variance"] - expected) < Z * se, (name, row["scale_variance"], expected, se)
    assert rows["stl"]["variance"] < 0.7 * rows["pathwise"]["variance"]
    assert rows["pathwise"]["scale_closed_form"] == pytest.approx(float((2 + off).mean()), rel=1e-9)
    assert rows["score"]["variance"] > 100 * rows["pathwise"]["variance"]


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (["q=best"], "bad value q=best: must be one of point, optimal"),
        (["scale=shared"], "bad value scale=shared: must be one of fixed, diagonal"),
        (["entropy_weight=0"], "bad value q=optimal: objective=linear_regression at entropy_weight=0.0 has"),
        (["entropy_weight=-1"], "bad value entropy_weight=-1.0: must be a finite number >= 0"),
    ],
)
def test_bad_study_q_values_are_one_line(overrides: list[str], line: str) -> None:
    with pytest.raises(ValueError) as error:
        variance_rows(*overrides)
    assert str(error.value).startswith(line) and "\n" not in str(error.value)


def test_the_default_point_is_unchanged_by_the_new_keys() -> None:
    """``q=point`` and ``scale=fixed`` are the study as before: μ at θ, one σ, no s columns."""
    rows = study(compose_config("variance", "repetitions=20", "sweep.points=[4]", "n_samples=4"))
    assert all("scale_variance" not in row for row in rows)
    assert rows[0]["exact_gradient"] == pytest.approx(2 * 2.0)  # f = x² at θ = 2
    assert math.isfinite(rows[0]["variance"]) and np.isfinite(rows[1]["variance"])


@pytest.mark.slow
@pytest.mark.parametrize("learned", ["diagonal", "shared"])
def test_pathwise_log_scale_variance_meets_monte_carlo(learned: str) -> None:
    """Off the optimum, with σ different per coordinate: the summed variance of pathwise's s-terms,
    Σ_j Var g_j (diagonal) or Var Σ_j g_j (shared), within 4 standard errors of 2·10⁵ draws (the
    standard error of a mean of per-draw squared deviations)."""
    model = LinearRegression()
    mu, sigma = model.optimal_q(1.0)
    mu = mu + 0.05
    sigma = sigma * torch.linspace(0.5, 1.5, 11, dtype=torch.float64)
    scale = sigma if learned == "diagonal" else sigma[:1]
    torch.manual_seed(0)
    q = Gaussian(mu.expand(1, 11).clone(), scale.expand(1, len(scale)).clone(), learned)
    terms = ESTIMATORS["pathwise"](model, q, 200_000)[0][:, 11:]
    squares = (terms - terms.mean(0)).square().sum(-1)
    se = float(squares.std() / math.sqrt(len(squares)))
    expected = float(model.scale_term_variance("pathwise", mu, scale, learned))
    assert abs(float(squares.mean()) - expected) < Z * se, (float(squares.mean()), expected, se)
