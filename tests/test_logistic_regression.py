"""Bayesian logistic regression on the breast cancer data: f against scipy, the quadrature's E_q f
against Monte Carlo (4 standard errors), its gradients against autograd, the best mean-field q
against other starts, and the model's bad values, each one line."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import log_expit
from sklearn.datasets import load_breast_cancer

from reparam_opt.objectives import logistic_regression
from reparam_opt.objectives.logistic_regression import LogisticRegression
from reparam_opt.training import train
from reparam_opt.training.validation import ConfigError, check_train_config
from tests.conftest import ROOT

Z = 4.0
D = 31
F64 = torch.float64


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    return LogisticRegression()


@pytest.fixture(scope="module")
def best(model: LogisticRegression) -> tuple[torch.Tensor, torch.Tensor]:
    """The best mean-field q's (μ*, σ*), fitted once for the module."""
    return model.optimal_q(1.0)


def numpy_model() -> tuple[np.ndarray, np.ndarray]:
    """The standardised design with its intercept last, and the 0/1 target."""
    features, target = load_breast_cancer(return_X_y=True)
    x = (features - features.mean(0)) / features.std(0)
    return np.hstack([x, np.ones((len(x), 1))]), target.astype(float)


def test_f_is_the_negative_log_joint() -> None:
    """At small weights and at weights large enough that e^a overflows a float64 (|a| > 710)."""
    model, (x, y) = LogisticRegression(prior_scale=1.5), numpy_model()
    w = np.random.default_rng(0).normal(size=(4, D)) * np.array([[0.3], [1.0], [5.0], [40.0]])
    a = w @ x.T
    likelihood = -(y * log_expit(a) + (1 - y) * log_expit(-a)).sum(-1)
    expected = likelihood - stats.norm(0, 1.5).logpdf(w).sum(-1)
    assert np.abs(a).max() > 710
    assert model(torch.from_numpy(w)).numpy() == pytest.approx(expected, rel=1e-12)


def far_q(best: tuple[torch.Tensor, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """q at the optimum; with a diagonal σ from 0.05 to 1.5 and μ moved off it; and far away, at
    μ = 0 with σ = 1 in every coordinate, where a_i's sd reaches 20 (the wide rule's ground)."""
    mu, sigma = best
    return {
        "optimum": (mu, sigma),
        "diagonal": (mu + 0.3, torch.linspace(0.05, 1.5, D, dtype=F64)),
        "far": (torch.zeros(D, dtype=F64), torch.ones(D, dtype=F64)),
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", ["optimum", "diagonal", "far"])
def test_the_quadrature_meets_monte_carlo(model, best, case: str) -> None:
    """E_q f within 4 standard errors of the mean of f over 10⁶ draws of q, in float64."""
    mu, sigma = far_q(best)[case]
    generator = torch.Generator().manual_seed(11)
    chunks = [model(mu + sigma * torch.randn(10_000, D, generator=generator, dtype=F64)) for _ in range(100)]
    f = torch.cat(chunks)
    se = float(f.std()) / math.sqrt(len(f))
    assert abs(float(f.mean()) - float(model.expectation(mu, sigma))) < Z * se


def autograd(model: LogisticRegression, mu: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """∇_μ and ∂/∂(log σ) of ``expectation`` by autograd."""
    mu, log_sigma = mu.clone().requires_grad_(True), sigma.log().requires_grad_(True)
    model.expectation(mu, log_sigma.exp()).sum().backward()
    return mu.grad, log_sigma.grad


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("case", ["diagonal", "far"])
def test_the_gradients_are_the_expectations_derivatives(model, best, case: str) -> None:
    """Bonnet's and Price's closed forms equal autograd through ``expectation``, diagonal and
    shared, in float64; a fixed scale has no scale gradient."""
    mu, sigma = far_q(best)[case]
    grad_mu, grad_s = autograd(model, mu, sigma)
    assert relative(model.gradient(mu, sigma), grad_mu) < 1e-8
    assert relative(model.scale_gradient(mu, sigma, "diagonal"), grad_s) < 1e-8
    shared = sigma[:1] * 0.5
    _, grad_shared = autograd(model, mu, shared)
    assert relative(model.scale_gradient(mu, shared, "shared"), grad_shared) < 1e-8
    assert model.scale_gradient(mu, 0.5, "fixed") is None


def rows(seed: int, shape: tuple[int, ...], best) -> tuple[torch.Tensor, torch.Tensor]:
    """μ and a diagonal σ scattered about the optimum, [*shape, D] each, float64."""
    generator = torch.Generator().manual_seed(seed)
    mu = best[0] + 0.5 * torch.randn(*shape, D, generator=generator, dtype=F64)
    return mu, best[1] * (0.7 * torch.randn(*shape, D, generator=generator, dtype=F64)).exp()


def closed_forms(model: LogisticRegression, mu: torch.Tensor, sigma: torch.Tensor) -> list[torch.Tensor]:
    return [
        model.expectation(mu, sigma).unsqueeze(-1),
        model.gradient(mu, sigma),
        model.scale_gradient(mu, sigma, "diagonal"),
        model.scale_gradient(mu, sigma[..., :1], "shared"),
    ]


def test_float32_agrees_with_float64(model, best) -> None:
    mu, sigma = rows(1, (4,), best)
    for single, double in zip(closed_forms(model, mu.float(), sigma.float()), closed_forms(model, mu, sigma)):
        assert single.dtype == torch.float32
        assert ((single.double() - double).abs() <= 1e-5 * (1 + double.abs())).all()


def test_chunks_give_the_row_by_row_values(model, best, monkeypatch: pytest.MonkeyPatch) -> None:
    """[steps, R, D] rows in chunks of 3 rows equal the rows in one chunk and rows on their own; no
    rows give no values."""
    mu, sigma = rows(2, (2, 4), best)
    monkeypatch.setattr(logistic_regression, "CHUNK_ELEMENTS", 3 * model.size * logistic_regression.NODES)
    chunked = closed_forms(model, mu, sigma)
    for i, j in [(0, 0), (1, 3)]:
        for whole, alone in zip(chunked, closed_forms(model, mu[i, j], sigma[i, j])):
            assert torch.allclose(whole[i, j], alone, rtol=1e-13, atol=1e-12)
    monkeypatch.setattr(logistic_regression, "CHUNK_ELEMENTS", 2**30)
    for pieces, whole in zip(chunked, closed_forms(model, mu, sigma)):
        assert torch.allclose(pieces, whole, rtol=1e-13, atol=1e-12)
    assert model.expectation(mu[:0], sigma[:0]).shape == (0, 4)


@pytest.mark.slow
def test_a_run_sized_history_in_float32(model, best) -> None:
    """A 50 × 200 × D float32 history (as the board passes it) against 100 of its rows alone."""
    mu, sigma = (t.float() for t in rows(3, (50, 200), best))
    value, derivatives = model.expectation(mu, sigma), model.derivatives(mu, sigma)
    assert value.shape == (50, 200) and derivatives.shape == (50, 200, 2 * D)
    assert value.dtype == derivatives.dtype == torch.float32
    picks = torch.randint(0, 50 * 200, (100,), generator=torch.Generator().manual_seed(4))
    for i, j in (divmod(k, 200) for k in picks.tolist()):
        assert torch.allclose(value[i, j], model.expectation(mu[i, j], sigma[i, j]), rtol=1e-6)
        assert torch.allclose(
            derivatives[i, j], model.derivatives(mu[i, j], sigma[i, j]), rtol=1e-5, atol=1e-4
        )


def mean_field_elbo(model: LogisticRegression, mu: torch.Tensor, sigma: torch.Tensor) -> float:
    """−E_q f + H(q), with H computed here: Σ log σ_j + (D/2) log 2πe."""
    entropy = float(sigma.log().sum()) + 0.5 * D * math.log(2 * math.pi * math.e)
    return entropy - float(model.expectation(mu, sigma))


def test_the_best_mean_field_q_is_a_stationary_point(model, best) -> None:
    """∇J_1 = 0 by the closed forms (∂J_1/∂s_j = ∂E_q f/∂s_j − 1); σ* no wider than the prior,
    since 1/σ_j*² = Σ_i x_ij² E sigmoid'(a_i) + 1/p²; the ELBO is −J_1 there."""
    mu, sigma = best
    assert model.gradient(mu, sigma).abs().max() < 1e-8
    assert (model.scale_gradient(mu, sigma, "diagonal") - 1).abs().max() < 1e-8
    assert (sigma < model.prior_scale).all() and (sigma > 0).all()
    assert model.optimal_elbo() == pytest.approx(mean_field_elbo(model, mu, sigma), rel=1e-14)
    assert model.optimal_q(0.0) is None and model.optimal_q(-1.0) is None


@pytest.mark.slow
@pytest.mark.parametrize(("mu0", "sigma0"), [(0.5, 0.5), (-1.0, 0.05)])
def test_the_best_mean_field_elbo_does_not_depend_on_the_start(
    model, best, mu0: float, sigma0: float
) -> None:
    mu, sigma = model.fit_q(1.0, mu0, sigma0)
    assert abs(mean_field_elbo(model, mu, sigma) - model.optimal_elbo()) < 1e-4
    assert (mu - best[0]).abs().max() < 1e-5 and (sigma - best[1]).abs().max() < 1e-5


@pytest.mark.slow
def test_another_entropy_weight_has_its_own_stationary_q(model, best) -> None:
    """J_λ at λ = 0.5: ∂E_q f/∂s_j = λ there, and the fit is kept for the next call."""
    mu, sigma = model.optimal_q(0.5)
    assert model.gradient(mu, sigma).abs().max() < 1e-8
    assert (model.scale_gradient(mu, sigma, "diagonal") - 0.5).abs().max() < 1e-8
    assert not torch.equal(sigma, best[1])
    assert torch.equal(model.optimal_q(0.5)[1], sigma)


def test_the_fixed_scale_optimum_is_stationary_and_cached(model) -> None:
    optimum = model.optimum(3.0, 0.1)
    assert optimum.theta.shape == (D,) and optimum.theta.dtype == F64
    assert model.gradient(optimum.theta, 0.1).abs().max() < 1e-8
    assert optimum.value == pytest.approx(float(model.expectation(optimum.theta, 0.1)), rel=1e-15)
    assert torch.equal(model.optimum(-2.0, 0.1).theta, optimum.theta)  # one minimiser, whatever θ0


def test_a_minibatch_keeps_f_unbiased() -> None:
    full, batch = LogisticRegression(), LogisticRegression(batch_size=32)
    w = torch.full((1, D), 0.2, dtype=F64)
    torch.manual_seed(3)
    values = torch.stack([batch(w)[0] for _ in range(4000)])
    assert abs(float(values.mean()) - float(full(w)[0])) < Z * float(values.std()) / math.sqrt(4000)
    assert not torch.equal(values[0], values[1])


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("objective.dataset=iris", "bad value objective.dataset=iris: must be one of breast_cancer"),
        ("objective.prior_scale=0", "bad value objective.prior_scale=0.0: must be a finite number > 0"),
        ("objective.prior_scale=inf", "bad value objective.prior_scale=inf: must be a finite number > 0"),
        *[
            (
                f"objective.batch_size={size}",
                f"bad value objective.batch_size={size}: must be null (all data) or an integer from 1 "
                "to 569, the data points of breast_cancer",
            )
            for size in (0, 570)
        ],
        (
            "dim=30",
            "bad value dim=30: objective=logistic_regression on breast_cancer has 31 weights (30 features "
            "and the intercept); leave dim at 31",
        ),
        (
            "family=bernoulli",
            "bad value objective=logistic_regression: it applies to family=gaussian only; "
            "family=bernoulli takes objective=target",
        ),
    ],
)
def test_bad_model_values_are_one_line(make_cfg, override: str, line: str) -> None:
    with pytest.raises(ConfigError) as error:
        check_train_config(make_cfg("objective=logistic_regression", override))
    assert str(error.value) == line


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["train.py", "objective=logistic_regression", "objective.dataset=nope"],
            "bad value objective.dataset=nope: must be one of breast_cancer",
        ),
        (
            ["-m", "reparam_opt.variance", "objective=logistic_regression", "objective.prior_scale=0"],
            "bad value objective.prior_scale=0.0: must be a finite number > 0",
        ),
    ],
)
def test_the_commands_refuse_a_bad_value_in_one_line(tmp_path: Path, args: list[str], line: str) -> None:
    result = subprocess.run(
        [sys.executable, *args, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [line]


@pytest.mark.slow
def test_exact_reaches_the_best_mean_field_elbo(make_cfg, tmp_path: Path, model) -> None:
    """J = −ELBO; the exact gradient's Adam run ends at L-BFGS's best mean-field ELBO."""
    cfg = make_cfg(
        "objective=logistic_regression",
        "estimator=exact",
        "scale=diagonal",
        "entropy_weight=1",
        "theta0=0",
        "sigma=0.1",
        "optimizer=adam",
        "lr=0.05",
        "steps=1000",
        "replicates=2",
    )
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed"
    assert summary["optimal_elbo"] == pytest.approx(model.optimal_elbo(), rel=1e-12)
    assert summary["log_evidence"] is None
    assert abs(summary["elbo_gap"]) < 1e-3
