"""D dimensions and a learned scale, by entry point: the variance study's ``sweep=dim``, the SGD
predictions of ``reparam_opt.sweep_summary.stability``, and the ``dimension`` and ``learned_scale``
presets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from reparam_opt.sweep_summary.stability import harmonic_sigma, pathwise_stationary, score_critical_step
from reparam_opt.training import train
from reparam_opt.variance.config import register_variance_configs
from reparam_opt.variance.study import study
from tests.conftest import compose_config, compose_with_hydra, run_train

Z = 4.0
register_variance_configs()


def variance_cfg(*overrides: str):
    return compose_config("variance", *overrides)


def test_dim_sweep_meets_every_closed_form() -> None:
    """Per-coordinate variance against D at d = 0.5: each within 4 standard errors of its closed form.

    The standard error is read off the study's own 95% interval (half-width / 1.96), on the side
    of the closed form: Bonett's at D = 1, the pooled normal interval above.
    """
    rows = study(
        variance_cfg(
            "sweep=dim",
            "sweep.points=[1,4,12]",
            "theta=0.5",
            "n_samples=10",
            "repetitions=1500",
            "+estimator@estimators.score_baseline=score_baseline",
        )
    )
    assert {(r["estimator"], r["dim"]) for r in rows} == {
        (e, d) for e in ("score", "pathwise", "score_baseline") for d in (1, 4, 12)
    }
    for row in rows:
        measured, expected = row["variance"], row["closed_form"]
        half = (row["ci_high"] - measured) if expected > measured else (measured - row["ci_low"])
        assert abs(measured - expected) < Z * half / 1.96, row


def test_dim_sweep_at_the_optimum_shows_the_d_squared_growth() -> None:
    """At d = 0 the closed forms are σ²(D+2)(D+4) per coordinate for score and 4σ² for pathwise."""
    rows = study(variance_cfg("sweep=dim", "sweep.points=[1,10,100]", "repetitions=20"))
    closed = {(r["estimator"], r["dim"]): r["per_sample_closed_form"] for r in rows}
    for dim in (1, 10, 100):
        assert closed["score", dim] == pytest.approx((dim + 2) * (dim + 4))
        assert closed["pathwise", dim] == pytest.approx(4.0)


def test_dim_sweep_chunking_does_not_change_the_estimates() -> None:
    overrides = ("sweep=dim", "sweep.points=[3]", "n_samples=5", "repetitions=200")
    whole = study(variance_cfg(*overrides, "chunk_elements=100000000"))
    for size in (15, 240):
        assert study(variance_cfg(*overrides, f"chunk_elements={size}")) == whole


@pytest.mark.parametrize("dim,n", [(1, 1), (10, 10), (100, 100), (100, 2), (3, 7)])
def test_critical_step_is_where_the_gaussian_closure_loses_its_root(dim: int, n: int) -> None:
    """docs/maths.md, "D dimensions": E r obeys a·(D+2)m² + (a(2D²+8D+4) − 4 + 4η)m + aD(D+2)(D+4) = 0
    with a = η/n (σ = 1); it has a positive root below η_c and none above."""

    def discriminant(eta: float) -> float:
        a = eta / n
        quadratic, linear, constant = (
            a * (dim + 2),
            a * (2 * dim**2 + 8 * dim + 4) - 4 + 4 * eta,
            a * dim * (dim + 2) * (dim + 4),
        )
        return linear**2 - 4 * quadratic * constant

    critical = score_critical_step(dim, n)
    assert discriminant(critical * 0.999) > 0 > discriminant(critical * 1.001)


@pytest.mark.slow
def test_exact_gradient_on_the_bare_objective_follows_the_harmonic_decay(make_cfg, tmp_path: Path) -> None:
    """s falls by 2Dησ² per step (shared s), so σ_t ≈ (σ₀⁻² + 4Dηt)^(−1/2) for a small step."""
    steps, lr, dim = 2000, 0.001, 3
    summary = train(
        make_cfg(
            "estimator=exact", "scale=shared", f"dim={dim}", f"lr={lr}", f"steps={steps}", "replicates=4"
        ),
        tmp_path,
    )
    predicted = float(harmonic_sigma(1.0, lr, np.array([steps]), dim, "shared")[0])
    assert summary["final_sigma_mean"] == pytest.approx(predicted, rel=5e-3)
    assert summary["sigma_star"] is None and summary["objective_star"] is None


@pytest.mark.parametrize("scale", ["shared", "diagonal"])
def test_exact_gradient_under_the_entropy_term_reaches_the_optimum(
    make_cfg, tmp_path: Path, scale: str
) -> None:
    """J_λ = E f − λH on ‖x − k‖²: μ* = k, σ*² = λ/2 in every coordinate, J* = D(λ/2 − λ log(2πe λ/2)/2)."""
    weight, dim = 0.5, 4
    summary = train(
        make_cfg(
            "estimator=exact",
            f"scale={scale}",
            f"dim={dim}",
            f"entropy_weight={weight}",
            "objective=shifted_square",
            "objective.k=-1",
            "lr=0.05",
            "steps=600",
            "replicates=4",
        ),
        tmp_path,
    )
    sigma_star = math.sqrt(weight / 2)
    assert summary["sigma_star"] == pytest.approx(sigma_star)
    assert summary["final_sigma_mean"] == pytest.approx(sigma_star, rel=1e-5)
    assert summary["final_rms_error"] < 1e-5
    entropy = dim * 0.5 * math.log(2 * math.pi * math.e * sigma_star**2)
    assert summary["objective_star"] == pytest.approx(dim * sigma_star**2 - weight * entropy)


def test_pathwise_prediction_is_the_ar1_fixed_point() -> None:
    """m = (1 − 2η)²m + 4η²σ²/n per coordinate, times D."""
    dim, lr, n, sigma = 5, 0.07, 3, 1.3
    m = pathwise_stationary(dim, lr, n, sigma) / dim
    assert m == pytest.approx((1 - 2 * lr) ** 2 * m + 4 * lr**2 * sigma**2 / n)


def test_dimension_preset_is_a_step_size_grid_over_d_and_estimators() -> None:
    cfg = compose_with_hydra("+experiment=dimension")
    params = cfg.hydra.sweeper.params
    assert params.dim.split(",") == ["1", "10", "100"]
    assert set(params.estimator.split(",")) == {"score", "score_baseline", "pathwise"}
    rates = [float(v) for v in params.lr.split(",")]
    for dim in (10, 100):  # the score function's η_c lies inside the grid
        assert min(rates) < score_critical_step(dim, cfg.n_samples) < max(rates)


def test_learned_scale_preset_has_three_scenarios() -> None:
    cfg = compose_with_hydra("+experiment=learned_scale")
    assert cfg.scale == "shared"
    assert cfg.hydra.sweeper.params["+scenario"].split(",") == ["entropy", "bare", "narrow_start"]
    narrow = compose_with_hydra("+experiment=learned_scale", "+scenario=narrow_start")
    assert abs(narrow.theta0) / narrow.sigma >= math.sqrt(narrow.n_samples) / narrow.lr  # |d₀|/σ₀ ≳ √n/η


@pytest.mark.slow
def test_dimension_preset_writes_the_step_size_figure_and_table(tmp_path: Path) -> None:
    result = run_train(
        "-m",
        "+experiment=dimension",
        "steps=30",
        "replicates=8",
        "dim=1,3",
        "lr=0.001,0.3",
        f"hydra.sweep.dir={tmp_path}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    text = (tmp_path / "summary.md").read_text()
    assert "## Step sizes" in text and "![step sizes](step_sizes.png)" in text
    assert text.count("| score_baseline |") == 2  # one row per D in the best-η table
    assert (tmp_path / "step_sizes.png").stat().st_size > 0


@pytest.mark.slow
def test_learned_scale_preset_reports_sigma(tmp_path: Path) -> None:
    result = run_train(
        "-m",
        "+experiment=learned_scale",
        "steps=40",
        "replicates=16",
        f"hydra.sweep.dir={tmp_path}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    text = (tmp_path / "summary.md").read_text()
    assert "final σ (σ*)" in text and "(0.707)" in text  # σ* = √½ under the entropy scenario
    assert len(list(tmp_path.glob("*/summary.json"))) == 6
