"""Bayesian linear regression on the diabetes data against closed forms computed here
independently with numpy and scipy, and against Monte Carlo, 4 standard errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.datasets import load_diabetes

from reparam_opt.estimators import ESTIMATORS
from reparam_opt.families.gaussian import Gaussian
from reparam_opt.objectives.linear_regression import LinearRegression
from reparam_opt.training import train
from reparam_opt.training.validation import ConfigError, check_train_config
from tests.conftest import scalars

Z = 4.0
SCALES = [(1.0, 1.0), (0.5, 2.0), (2.0, 0.3)]


def numpy_model(noise: float, prior: float) -> tuple[np.ndarray, np.ndarray]:
    """The standardised design with its intercept, and the standardised target."""
    features, target = load_diabetes(return_X_y=True)
    x = (features - features.mean(0)) / features.std(0)
    return np.hstack([x, np.ones((len(x), 1))]), (target - target.mean()) / target.std()


@pytest.mark.parametrize(("noise", "prior"), SCALES)
def test_the_optimum_the_evidence_and_the_best_elbo_are_the_closed_forms(noise: float, prior: float) -> None:
    x, y = numpy_model(noise, prior)
    model = LinearRegression(noise_scale=noise, prior_scale=prior)
    # The posterior mean is ridge regression's solution with penalty s²/p².
    ridge = np.linalg.solve(x.T @ x + (noise / prior) ** 2 * np.eye(11), x.T @ y)
    assert model.w_star.numpy() == pytest.approx(ridge, rel=1e-6, abs=1e-12)
    evidence = stats.multivariate_normal(
        np.zeros(len(y)), noise**2 * np.eye(len(y)) + prior**2 * x @ x.T
    ).logpdf(y)
    assert model.log_evidence() == pytest.approx(evidence, rel=1e-6)
    # The best mean-field q is N(w*, diag 1/Λ_jj); its ELBO is −E_q f + H(q), which must equal
    # log p(y) − KL with KL = ½(Σ log Λ_jj − log det Λ).
    precision = x.T @ x / noise**2 + np.eye(11) / prior**2
    joint = -stats.multivariate_normal(x @ ridge, noise**2 * np.eye(len(y))).logpdf(y)
    joint -= stats.multivariate_normal(np.zeros(11), prior**2 * np.eye(11)).logpdf(ridge)
    entropy = 0.5 * np.sum(np.log(2 * np.pi * np.e / np.diag(precision)))
    elbo = -(11 / 2 + joint) + entropy
    kl = 0.5 * (np.sum(np.log(np.diag(precision))) - np.linalg.slogdet(precision)[1])
    assert model.optimal_elbo() == pytest.approx(elbo, rel=1e-6)
    assert model.optimal_elbo() == pytest.approx(evidence - kl, rel=1e-6)
    assert model.constant == pytest.approx(joint, rel=1e-9)


def test_f_is_the_negative_log_joint() -> None:
    model = LinearRegression(noise_scale=0.7, prior_scale=1.5)
    x, y = numpy_model(0.7, 1.5)
    w = np.random.default_rng(0).normal(size=(3, 11))
    expected = [-stats.norm(x @ row, 0.7).logpdf(y).sum() - stats.norm(0, 1.5).logpdf(row).sum() for row in w]
    assert model(torch.from_numpy(w)).numpy() == pytest.approx(expected, rel=1e-10)


def at(mu: float, sigma: float, replicates: int, learned: str = "fixed") -> Gaussian:
    loc = torch.full((replicates, 11), mu, dtype=torch.float64)
    if learned == "fixed":
        return Gaussian(loc, torch.tensor(sigma, dtype=torch.float64))
    return Gaussian(loc, torch.full((replicates, 11), sigma, dtype=torch.float64), learned)


def test_j_and_its_gradients_meet_monte_carlo() -> None:
    """E_q f, ∇_μ and ∂/∂s, from pathwise's terms (unbiased) against the closed forms."""
    model, draws = LinearRegression(), 20_000
    q = at(0.3, 0.2, 1, "diagonal")
    torch.manual_seed(1)
    f = model(q.draw(draws))[0]
    j = float(model.expectation(q.loc[0], q.scale[0]))
    assert abs(float(f.mean()) - j) < Z * float(f.std()) / math.sqrt(draws)
    terms = ESTIMATORS["pathwise"](model, q, draws)[0]
    exact = torch.cat(
        [model.gradient(q.loc[0], q.scale[0]), model.scale_gradient(q.loc[0], q.scale[0], "diagonal")]
    )
    se = terms.std(0) / math.sqrt(draws)
    assert ((terms.mean(0) - exact).abs() < Z * se).all()


@pytest.mark.parametrize("name", ["pathwise", "score"])
def test_the_term_variances_meet_monte_carlo(name: str) -> None:
    """Each coordinate's sample variance of R·n terms within 4 standard errors (from the fourth
    central moment) of ``term_variances``."""
    model, replicates, n = LinearRegression(), 2000, 20
    q = at(0.1, 0.15, replicates)
    torch.manual_seed(2)
    terms = ESTIMATORS[name](model, q, n).reshape(-1, 11)
    expected = model.term_variances(name, q.loc[0], 0.15)
    centred = terms - terms.mean(0)
    variance, m4 = centred.square().mean(0), centred.pow(4).mean(0)
    se = ((m4 - variance.square()) / len(terms)).sqrt()
    assert ((variance - expected).abs() < Z * se).all(), (variance, expected)


def test_a_minibatch_keeps_f_unbiased_and_has_no_closed_form_variance() -> None:
    full, batch = LinearRegression(), LinearRegression(batch_size=32)
    w = torch.full((1, 11), 0.2, dtype=torch.float64)
    torch.manual_seed(3)
    values = torch.stack([batch(w)[0] for _ in range(4000)])
    assert abs(float(values.mean()) - float(full(w)[0])) < Z * float(values.std()) / math.sqrt(4000)
    assert batch.term_variances("pathwise", w[0], 0.1) is None
    assert full.term_variances("pathwise", w[0], 0.1) is not None


@pytest.mark.slow
def test_exact_with_adam_reaches_the_posterior_mean(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(
        "objective=linear_regression",
        "estimator=exact",
        "optimizer=adam",
        "lr=0.05",
        "steps=3000",
        "replicates=2",
    )
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and len(summary["theta_star"]) == 11
    assert summary["final_rms_error"] < 1e-2


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("objective.dataset=iris", "bad value objective.dataset=iris: must be one of diabetes"),
        ("objective.noise_scale=0", "bad value objective.noise_scale=0.0: must be a finite number > 0"),
        ("objective.prior_scale=nan", "bad value objective.prior_scale=nan: must be a finite number > 0"),
        (
            "objective.batch_size=0",
            "bad value objective.batch_size=0: must be null (all data) or an integer from 1 to 442, "
            "the data points of diabetes",
        ),
        (
            "objective.batch_size=443",
            "bad value objective.batch_size=443: must be null (all data) or an integer from 1 to 442, "
            "the data points of diabetes",
        ),
        (
            "dim=3",
            "bad value dim=3: objective=linear_regression on diabetes has 11 weights (10 features and the "
            "intercept); leave dim at 11",
        ),
        (
            "family=bernoulli",
            "bad value objective=linear_regression: it applies to family=gaussian only; "
            "family=bernoulli takes objective=target",
        ),
    ],
)
def test_bad_model_values_are_one_line(make_cfg, override: str, line: str) -> None:
    with pytest.raises(ConfigError) as error:
        check_train_config(make_cfg("objective=linear_regression", override))
    assert str(error.value) == line


ELBO_RUN = ["objective=linear_regression", "entropy_weight=1", "scale=diagonal", "theta0=0", "sigma=0.1"]


@pytest.mark.slow
def test_exact_reaches_the_best_mean_field_elbo(make_cfg, tmp_path: Path) -> None:
    """J = −ELBO; the exact gradient's run ends at the closed-form best mean-field ELBO to 1e-4."""
    cfg = make_cfg(*ELBO_RUN, "estimator=exact", "lr=0.001", "steps=6000", "replicates=2")
    summary = train(cfg, tmp_path)
    model = LinearRegression()
    assert summary["optimal_elbo"] == pytest.approx(model.optimal_elbo(), rel=1e-12)
    assert summary["log_evidence"] == pytest.approx(model.log_evidence(), rel=1e-12)
    assert abs(summary["elbo_gap"]) < 1e-4
    assert summary["final_elbo"] == pytest.approx(summary["optimal_elbo"] - summary["elbo_gap"], rel=1e-12)


def test_the_elbo_tags_are_the_negated_loss(make_cfg, tmp_path: Path) -> None:
    """``elbo/value`` is −J_1 exactly; ``elbo/monte_carlo`` is the logged loss's negative, within 4
    of its standard errors of the exact value at step 0, where every replicate sits at θ0."""
    cfg = make_cfg(*ELBO_RUN, "estimator=pathwise", "lr=0.0005", "steps=3", "replicates=512", "log_every=1")
    summary = train(cfg, tmp_path)
    series = scalars(tmp_path)
    start = {tag: rows[0][1] for tag, rows in series.items() if rows[0][0] == 0}
    assert start["elbo/value"] == pytest.approx(-start["objective/mean"], rel=1e-6)
    assert start["elbo/monte_carlo"] == pytest.approx(-start["loss/monte_carlo"], rel=1e-6)
    assert abs(start["elbo/monte_carlo"] - start["elbo/value"]) < Z * start["loss/monte_carlo_se"]
    assert {"final_elbo", "optimal_elbo", "elbo_gap", "log_evidence"} <= summary.keys()
    plain = train(make_cfg("objective=linear_regression", "lr=0.0005", "steps=2"), tmp_path / "plain")
    assert "final_elbo" not in plain  # J is −ELBO only with the entropy's weight 1
