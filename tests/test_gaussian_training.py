"""Training in D dimensions and with a learned scale, against REFERENCE.md's stationary laws.

Each check takes its standard error from independent replicates at one step (or, for the
time-averaged ``stationary_rms``, from the exact autocorrelation of the AR(1) chain), never from
consecutive steps treated as independent. Every run has a fixed seed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from reparam_opt.training import THETA_BOUND, train
from reparam_opt.training import loop as training
from tests.conftest import scalars
from tests.regression import run_fingerprint

Z = 4.0
VOLATILE = ("wall_seconds", "threads")


@pytest.fixture
def captured_run(monkeypatch) -> dict[str, training.Run]:
    """The ``Run`` that ``train`` builds, kept so a test can read every replicate's θ at the end.

    ``train`` updates ``run.theta`` in place, so after it returns the rows are the final (μ, s),
    diverged replicates frozen where they were marked.
    """
    holder: dict[str, training.Run] = {}
    resolve = training.resolve

    def keep(cfg):
        holder["run"] = resolve(cfg)
        return holder["run"]

    monkeypatch.setattr(training, "resolve", keep)
    return holder


def ar1_average_factor(rho: float, length: int) -> float:
    """(1/L²) Σ_{s,t} ρ^{2|s−t|}: Var(mean of L consecutive squares) / Var(one square), for a
    stationary Gaussian AR(1) with coefficient ρ, since Cov(x_s², x_t²) = 2 Cov(x_s, x_t)²."""
    r2 = rho * rho
    total = length + 2 * sum((length - lag) * r2**lag for lag in range(1, length))
    return total / length**2


@pytest.mark.parametrize("n", [1, 2])
def test_pathwise_stationary_mean_square_in_five_dimensions(make_cfg, tmp_path: Path, n: int) -> None:
    """REFERENCE "D dimensions": pathwise SGD has the stationary law N(k, v I), v = ησ²/(n(1 − η)),
    so E‖μ − k‖² = Dv; and exactly Gaussian, since μ_{t+1} − k = (1 − 2η)(μ_t − k) − 2ησ ε̄_t.

    At the last step the R replicates are independent and ‖d‖²/v ~ χ²_D: the mean over
    replicates has standard error v√(2D/R). ``stationary_rms``² averages L = steps/4 consecutive
    steps, whose squares are correlated with coefficient ρ^{2|s−t|}, ρ = 1 − 2η.
    """
    dim, lr, steps, replicates = 5, 0.05, 400, 4000
    cfg = make_cfg(
        "estimator=pathwise",
        "objective=square",
        f"dim={dim}",
        "sigma=1.0",
        "theta0=0.0",
        f"n_samples={n}",
        f"lr={lr}",
        f"steps={steps}",
        f"replicates={replicates}",
        f"log_every={steps}",
    )
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and summary["diverged"] == 0
    v = lr / (n * (1 - lr))
    expected = dim * v
    one_step_se = v * math.sqrt(2 * dim / replicates)
    assert abs(summary["final_rms_error"] ** 2 - expected) < Z * one_step_se
    # The last quarter of steps 0..steps: L = (steps + 1) // 4 steps, all long past the transient
    # (the variance starts at 0 and reaches v(1 − ρ^{2t}); ρ^{2·300} < 1e−27).
    length = (steps + 1) // 4
    averaged_se = one_step_se * math.sqrt(ar1_average_factor(1 - 2 * lr, length))
    assert abs(summary["stationary_rms"] ** 2 - expected) < Z * averaged_se


@pytest.mark.slow
@pytest.mark.parametrize("dim,scale", [(1, "diagonal"), (3, "shared"), (3, "diagonal"), (5, "shared")])
def test_entropy_weight_one_has_mean_sigma_square_one_half(
    make_cfg, tmp_path: Path, captured_run, dim: int, scale: str
) -> None:
    """REFERENCE "Entropy term": under J_1 the stationary E[σ²] = ½ exactly, in every D and for both
    learned scales (E s_{t+1} = E s_t forces E[2σ² − 1] = 0); and pathwise E‖d‖² = Dη/(2n(1 − η))
    exactly (d_{t+1} = (1 − 2η)d_t − 2ησ_t ε̄_t with E σ² = ½).

    The units are the replicates at the last step, independent: per replicate the mean of σ_i² over
    its coordinates, and ‖d‖². Their sample spread gives the standard errors.
    """
    lr, n, steps, replicates = 0.05, 1, 400, 8000
    cfg = make_cfg(
        "estimator=pathwise",
        "objective=square",
        f"dim={dim}",
        f"scale={scale}",
        "entropy_weight=1",
        "sigma=1.0",
        "theta0=0.0",
        f"n_samples={n}",
        f"lr={lr}",
        f"steps={steps}",
        f"replicates={replicates}",
        f"log_every={steps}",
    )
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and summary["diverged"] == 0
    theta = captured_run["run"].theta.detach().double()
    mu, sigma = theta[:, :dim], theta[:, dim:].exp()
    assert sigma.shape == (replicates, 1 if scale == "shared" else dim)

    sigma2 = sigma.square().mean(-1)
    se = float(sigma2.std()) / math.sqrt(replicates)
    assert abs(float(sigma2.mean()) - 0.5) < Z * se, (float(sigma2.mean()), se)

    d2 = mu.square().sum(-1)  # objective=square: k = 0
    expected = dim * lr / (2 * n * (1 - lr))
    se = float(d2.std()) / math.sqrt(replicates)
    assert abs(float(d2.mean()) - expected) < Z * se, (float(d2.mean()), expected, se)

    # The summary reads the same replicates (float32 statistics of float32 parameters).
    assert summary["sigma_star"] == pytest.approx(math.sqrt(0.5))
    assert summary["final_sigma_mean"] == pytest.approx(float(sigma.mean()), rel=1e-5)
    assert summary["final_rms_error"] ** 2 == pytest.approx(float(d2.mean()), rel=1e-5)


def finite_or_none(value: Any) -> bool:
    """Every number in a (nested) summary is finite; None is allowed, NaN and ±inf are not."""
    if isinstance(value, dict):
        return all(finite_or_none(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(finite_or_none(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return True


def read_strict_json(path: Path) -> dict[str, Any]:
    """summary.json, refusing the NaN / Infinity tokens that json.dump writes for non-finite floats."""

    def refuse(token: str) -> None:
        raise AssertionError(f"{path.name} holds {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


def assert_all_logged_scalars_finite(run_dir: Path) -> None:
    bad = {tag: [s for s, v in rows if not math.isfinite(v)] for tag, rows in scalars(run_dir).items()}
    assert not {tag: steps for tag, steps in bad.items() if steps}


def collapsing_score(make_cfg, steps: int, replicates: int):
    """REFERENCE "Entropy term": score, learned σ, λ = 1, η = 0.05, n = 1, where σ collapses."""
    return make_cfg(
        "estimator=score",
        "scale=shared",
        "entropy_weight=1",
        "lr=0.05",
        "n_samples=1",
        "theta0=0.0",
        f"steps={steps}",
        f"replicates={replicates}",
    )


@pytest.mark.slow
def test_a_collapsing_or_overflowing_sigma_counts_as_divergence(
    make_cfg, tmp_path: Path, captured_run
) -> None:
    """REFERENCE "Entropy term": score, learned σ, λ = 1, η = 0.05, n = 1 diverges in nearly every run
    (σ collapses in one step: the s-term has ε⁴ tails). Those replicates are counted as diverged,
    some of them through σ alone (μ within bounds, σ = exp(s) 0 or infinite in float32), and the
    summary holds finite numbers or None, never NaN."""
    summary = train(collapsing_score(make_cfg, steps=500, replicates=200), tmp_path)
    assert summary["status"] == "completed"
    assert 0 < summary["diverged"] < 200
    assert finite_or_none(summary)
    assert read_strict_json(tmp_path / "summary.json") == json.loads(json.dumps(summary))
    assert_all_logged_scalars_finite(tmp_path)

    theta = captured_run["run"].theta.detach()
    mu_ok = theta[:, :1].abs().le(THETA_BOUND).all(-1)
    sigma = theta[:, 1:].exp()
    sigma_ok = (sigma.gt(0) & sigma.isfinite()).all(-1)
    through_sigma_alone = int((mu_ok & ~sigma_ok).sum())
    assert through_sigma_alone > 0
    assert int((~sigma_ok).sum()) <= summary["diverged"]  # every bad σ is counted
    # The survivors' σ statistics are over live replicates only.
    assert summary["final_sigma_q05"] > 0 and math.isfinite(summary["final_sigma_q95"])


def test_a_sigma_that_underflows_with_finite_gradients_counts_as_divergence(
    make_cfg, tmp_path: Path, captured_run
) -> None:
    """Pathwise from σ₀ = 30 at η = 0.5: the first s-step is about −2ησ₀²ε² ≈ −900, so σ = exp(s)
    underflows to 0 in float32. Pathwise's terms stay finite there (g_s = 2(x − k)σε = 0), so only
    the σ check can catch it: every replicate left with a σ_i of 0 (or ∞) is counted as diverged,
    and none else is, since μ stays in bounds and the gradients finite."""
    cfg = make_cfg(
        "estimator=pathwise",
        "scale=diagonal",
        "dim=2",
        "sigma=30",
        "lr=0.5",
        "theta0=0.0",
        "steps=20",
        "replicates=64",
    )
    summary = train(cfg, tmp_path)
    theta = captured_run["run"].theta.detach()
    assert bool(theta[:, :2].abs().le(THETA_BOUND).all())
    sigma = theta[:, 2:].exp()
    collapsed = int((~(sigma.gt(0) & sigma.isfinite()).all(-1)).sum())
    assert 0 < collapsed == summary["diverged"]
    assert summary["status"] == "completed"
    assert finite_or_none(summary)
    read_strict_json(tmp_path / "summary.json")
    assert summary["final_sigma_q05"] > 0


@pytest.mark.slow
def test_every_replicate_diverging_leaves_no_nan(make_cfg, tmp_path: Path) -> None:
    summary = train(collapsing_score(make_cfg, steps=4000, replicates=50), tmp_path)
    assert summary["status"] == "diverged"
    assert summary["diverged"] == 50
    assert finite_or_none(summary)
    read_strict_json(tmp_path / "summary.json")
    assert summary["final_sigma_mean"] is None and summary["final_rms_error"] is None
    assert_all_logged_scalars_finite(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ["pathwise", "score"])
def test_explicit_one_dimensional_fixed_scale_is_the_default_run(
    make_cfg, tmp_path: Path, estimator: str
) -> None:
    """dim=1 scale=fixed entropy_weight=0, given explicitly, change no number: the same summary (but
    wall time and threads) and the same TensorBoard scalars and histograms, bit for bit."""
    train(make_cfg(f"estimator={estimator}"), tmp_path / "default")
    train(
        make_cfg(f"estimator={estimator}", "dim=1", "scale=fixed", "entropy_weight=0"), tmp_path / "explicit"
    )
    default, explicit = run_fingerprint(tmp_path / "default"), run_fingerprint(tmp_path / "explicit")
    assert default["scalars"] == explicit["scalars"]
    assert default["histograms"] == explicit["histograms"]
    summaries = [
        json.loads((tmp_path / where / "summary.json").read_text()) for where in ("default", "explicit")
    ]
    for summary in summaries:
        for key in VOLATILE:
            summary.pop(key)
    assert summaries[0] == summaries[1]
    assert summaries[0]["config"]["entropy_weight"] == 0.0 and summaries[0]["config"]["dim"] == 1
