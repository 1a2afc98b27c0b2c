"""Pyro as a peer: the same Bayesian linear regression fitted with Pyro's ``Trace_ELBO`` and an
``AutoDiagonalNormal`` guide (``init_to_mean``). At a fixed q, Pyro's one-particle gradient of
−ELBO and ours through the sample (``estimator=trace_elbo``, λ = 1) have the same mean and the same
variance per coordinate, within 4 standard errors of their difference."""

from __future__ import annotations

import math

import pytest
import torch

from reparam_opt.estimators import ESTIMATORS
from reparam_opt.families.gaussian import Gaussian
from reparam_opt.objectives.linear_regression import LinearRegression

pyro = pytest.importorskip("pyro")
import pyro.distributions as dist  # noqa: E402
from pyro.infer import Trace_ELBO  # noqa: E402
from pyro.infer.autoguide import AutoDiagonalNormal  # noqa: E402
from pyro.infer.autoguide.initialization import init_to_mean  # noqa: E402

pytestmark = [pytest.mark.peer, pytest.mark.slow]

Z = 4.0
LOC, SCALE, DRAWS = 0.1, 0.3, 3000


def pyro_gradients(model: LinearRegression, draws: int) -> torch.Tensor:
    """Pyro's one-particle gradients of −ELBO in (μ, s = log σ), [draws, 2D], at q = N(LOC, SCALE²I)."""
    x, y = model.x64, model.y64
    noise, prior = model.noise_scale, model.prior_scale

    def regression() -> None:
        zeros = torch.zeros(model.dim, dtype=torch.float64)
        w = pyro.sample("w", dist.Normal(zeros, prior).to_event(1))
        pyro.sample("y", dist.Normal(x @ w, noise).to_event(1), obs=y)

    pyro.clear_param_store()
    guide = AutoDiagonalNormal(regression, init_loc_fn=init_to_mean)
    guide()
    parameters = dict(guide.named_parameters())
    loc, raw = parameters["loc"], parameters["scale_unconstrained"]  # σ = softplus(raw)
    with torch.no_grad():
        loc.fill_(LOC)
        raw.fill_(math.log(math.expm1(SCALE)))
    loss = Trace_ELBO(num_particles=1)
    rows = []
    for _ in range(draws):
        g_loc, g_raw = torch.autograd.grad(loss.differentiable_loss(regression, guide), [loc, raw])
        # σ = softplus(u): ∂/∂s = σ ∂/∂σ = σ ∂/∂u / sigmoid(u).
        rows.append(torch.cat([g_loc, g_raw * SCALE / torch.sigmoid(raw.detach())]))
    return torch.stack(rows)


def test_pyro_and_trace_elbo_agree_in_mean_and_variance() -> None:
    model = LinearRegression()
    pyro.set_rng_seed(0)
    theirs = pyro_gradients(model, DRAWS)
    q = Gaussian(
        torch.full((DRAWS, model.dim), LOC, dtype=torch.float64),
        torch.full((DRAWS, model.dim), SCALE, dtype=torch.float64),
        "diagonal",
    )
    torch.manual_seed(1)
    ours = ESTIMATORS["trace_elbo"](model, q, 1, entropy_weight=1.0)[:, 0]
    exact = torch.cat(
        [model.gradient(q.loc[0], q.scale[0]), model.scale_gradient(q.loc[0], q.scale[0], "diagonal") - 1.0]
    )
    for sample in (theirs, ours):
        se = sample.std(0) / math.sqrt(len(sample))
        assert ((sample.mean(0) - exact).abs() < Z * se).all()
    moments = []
    for sample in (theirs, ours):
        centred = sample - sample.mean(0)
        variance, m4 = centred.square().mean(0), centred.pow(4).mean(0)
        moments.append((variance, (m4 - variance.square()) / len(sample)))
    (v_theirs, se2_theirs), (v_ours, se2_ours) = moments
    assert ((v_theirs - v_ours).abs() < Z * (se2_theirs + se2_ours).sqrt()).all()
