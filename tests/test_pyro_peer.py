"""Pyro as a peer: the same Bayesian regression fitted with Pyro's ``Trace_ELBO`` and an
``AutoDiagonalNormal`` guide (``init_to_mean``), and with ours through the sample
(``estimator=trace_elbo``, λ = 1, a diagonal learned scale).

(a) Linear regression, at a fixed q: Pyro's one-particle gradient of −ELBO and ours have the same
mean and the same variance per coordinate, within 4 standard errors of their difference.
(b) Logistic regression, trained alike (Adam at the same rate, constant or on the same quarter
cosine, the same steps, one sample per step, one Pyro run per seed against as many replicates):
the exact ELBOs at the final q have the same mean within 4 standard errors of the difference, and
both means come near the best mean-field ELBO."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from reparam_opt.estimators import ESTIMATORS
from reparam_opt.families import GaussianFamily
from reparam_opt.families.gaussian import Gaussian
from reparam_opt.objectives.linear_regression import LinearRegression
from reparam_opt.objectives.logistic_regression import LogisticRegression
from reparam_opt.training import train
from reparam_opt.training.run import resolve
from reparam_opt.training.schedule import SCHEDULES

pyro = pytest.importorskip("pyro")
import pyro.distributions as dist  # noqa: E402
from pyro.infer import SVI, Trace_ELBO  # noqa: E402
from pyro.infer.autoguide import AutoDiagonalNormal  # noqa: E402
from pyro.infer.autoguide.initialization import init_to_mean  # noqa: E402
from pyro.optim import Adam, LambdaLR  # noqa: E402

pytestmark = [pytest.mark.peer, pytest.mark.slow]

Z = 4.0
LOC, SCALE, DRAWS = 0.1, 0.3, 3000


def pyro_model(model: LinearRegression):
    """The model in Pyro: w ~ N(0, p²I), y ~ N(Xw, s²I), in float64 as ours computes it."""
    x, y = model.x64, model.y64
    noise, prior = model.noise_scale, model.prior_scale

    def regression() -> None:
        zeros = torch.zeros(model.dim, dtype=torch.float64)
        w = pyro.sample("w", dist.Normal(zeros, prior).to_event(1))
        pyro.sample("y", dist.Normal(x @ w, noise).to_event(1), obs=y)

    return regression


def pyro_gradients(model: LinearRegression, draws: int) -> torch.Tensor:
    """Pyro's one-particle gradients of −ELBO in (μ, s = log σ), [draws, 2D], at q = N(LOC, SCALE²I)."""
    regression = pyro_model(model)
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


# Part (b): after training, both reach the same ELBO within their spread across seeds.

#: Adam's rate, the steps, the seeds (one Pyro SVI run each; ours, ``replicates``). From a gap of
#: 403 nats to the best mean-field ELBO at μ = 0, σ = 0.1, a constant rate of 0.02 reaches Adam's
#: noise floor by about 1000 steps (ours, 256 replicates: mean gap 1.5 after 500 steps, 0.99 after
#: 1000, 1.08 after 2000), where the final ELBO scatters by about 0.5 nats across seeds. The
#: quarter cosine (``lr_schedule``; Pyro's ``LambdaLR`` with the same multiplier, stepped after each
#: update as our loop steps it) decays the rate to 0 over the same steps: a gap of 0.39 nats that
#: scatters by only 0.07, so the means are compared tightly, and the gap still moves with the rate:
#: ours at a rate 20% lower (0.016) ends 0.25 nats below Pyro's mean, beyond 4 standard errors (0.18).
LR, STEPS, SEEDS = 0.02, 1000, 8

#: Per schedule, the bound on both mean gaps to the best mean-field ELBO, nats: 2.5 times the gaps
#: seen (about 1.0 at a constant rate, 0.4 under the quarter cosine).
NEAR_OPTIMUM = {"constant": 2.5, "quarter_cosine": 1.0}

#: Per schedule, the least tolerance on the difference of the mean ELBOs, nats. Pyro's σ =
#: softplus(u) and our σ = exp(s) take different paths under the same Adam rate: Adam's step is
#: invariant to the gradient's scale, so a step of lr in u is one of r·lr in log σ, with r =
#: sigmoid(u)/softplus(u), 0.95 at σ = 0.1 and 0.73 to 0.87 at this model's σ* (0.28 to 0.66).
#: The scales settle in the first 150 steps; after that Pyro's scales scatter with a rate 13–27%
#: smaller, and the scales' share of the gap (stationary scatter, proportional to the rate) is as
#: much smaller. Ours, 256 replicates: the scales' share is 0.39 nats at a constant rate and 0.11
#: under the quarter cosine; 30% of it is the floor. The μ-parameters are the same on both sides.
FLOOR = {"constant": 0.12, "quarter_cosine": 0.035}


def pyro_logistic(model: LogisticRegression):
    """The model in Pyro: w ~ N(0, p²I), y_i ~ Bernoulli(sigmoid(x_iᵀw)), in float64."""
    x, y, prior = model.x64, model.y64, model.prior_scale

    def logistic() -> None:
        zeros = torch.zeros(model.dim, dtype=torch.float64)
        w = pyro.sample("w", dist.Normal(zeros, prior).to_event(1))
        pyro.sample("y", dist.Bernoulli(logits=x @ w).to_event(1), obs=y)

    return logistic


def pyro_fit(model: LogisticRegression, seed: int, schedule: str) -> torch.Tensor:
    """Pyro's (μ, log σ) [2D] after ``STEPS`` steps of SVI (Trace_ELBO, one particle,
    AutoDiagonalNormal from init_to_mean with init_scale 0.1, Adam at ``LR`` on ``schedule``)."""
    pyro.clear_param_store()
    logistic = pyro_logistic(model)
    guide = AutoDiagonalNormal(logistic, init_loc_fn=init_to_mean)
    if schedule == "constant":
        optimizer, scheduler = Adam({"lr": LR}), None
    else:
        multiplier = SCHEDULES[schedule](STEPS)
        optimizer = scheduler = LambdaLR(
            {"optimizer": torch.optim.Adam, "optim_args": {"lr": LR}, "lr_lambda": multiplier}
        )
    svi = SVI(logistic, guide, optimizer, Trace_ELBO(num_particles=1))
    # Validation only checks arguments: the same numbers, the steps 20% faster.
    with torch.random.fork_rng(), pyro.validation_enabled(False):
        torch.manual_seed(seed)
        for _ in range(STEPS):
            svi.step()
            if scheduler is not None:
                scheduler.step()
    loc, scale = guide._loc_scale()
    return torch.cat([loc, scale.log()]).detach().double()


@pytest.fixture
def one_thread():
    """One torch thread: two threads on a busy 2-core machine run these small steps 2–3 times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("schedule", ["constant", "quarter_cosine"])
def test_trained_alike_pyro_and_trace_elbo_reach_the_same_elbo(
    make_cfg, tmp_path: Path, schedule: str
) -> None:
    model = LogisticRegression()
    family = GaussianFamily(dim=model.dim, scale="diagonal", entropy_weight=1.0)
    theirs = torch.stack([pyro_fit(model, seed, schedule) for seed in range(SEEDS)])
    cfg = make_cfg(
        "objective=logistic_regression",
        "estimator=trace_elbo",
        "scale=diagonal",
        "entropy_weight=1",
        "optimizer=adam",
        f"lr={LR}",
        f"lr_schedule={schedule}",
        f"steps={STEPS}",
        "theta0=0",
        "sigma=0.1",
        f"replicates={SEEDS}",
        "n_samples=1",
        f"log_every={STEPS}",
    )
    run = resolve(cfg)
    summary = train(cfg, tmp_path, run)
    assert summary["status"] == "completed" and summary["diverged"] == 0
    ours = run.theta.detach().double()  # the final rows: the loop updates θ in place
    # The exact ELBO (to quadrature), −J = −(E_q f − H(q)), at each final q.
    elbo_ours, elbo_theirs = (-family.objective_values(model, theta) for theta in (ours, theirs))
    assert math.isclose(float(elbo_ours.mean()), summary["final_elbo"], rel_tol=1e-9)
    best = model.optimal_elbo()
    for elbo in (elbo_ours, elbo_theirs):
        assert 0 < best - float(elbo.mean()) < NEAR_OPTIMUM[schedule]
    se = math.sqrt(float(elbo_ours.var() + elbo_theirs.var()) / SEEDS)
    assert abs(float(elbo_ours.mean() - elbo_theirs.mean())) <= max(Z * se, FLOOR[schedule])
