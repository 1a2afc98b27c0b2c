"""``--only pyro``: one training step per replicate, reparam-opt's real loop against Pyro's SVI step.

The model is Bayesian logistic regression on the breast cancer data (``objective=logistic_regression``:
D = 31 weights, N = 569 rows, all of them every step), q a diagonal Gaussian, the ELBO's gradient
from one sample through it, Adam. Four sides, timed in turn within each repeat:

- ours: ``training.train`` as ``train.py`` runs it (``estimator=trace_elbo scale=diagonal
  entropy_weight=1 n_samples=1 optimizer=adam``) at ``replicates`` replicates, logging only at the
  first and the last step. The run is resolved, and the model's best ELBO found, before the clock
  starts; each repeat times ``steps_short`` and ``steps_long`` steps and keeps the difference, so
  what a run does once (the event file, the summary, the final metrics) cancels;
- Pyro: ``SVI(model, AutoDiagonalNormal(model, init_loc_fn=init_to_mean), Adam, Trace_ELBO())``,
  one ``svi.step()`` per replicate-step, argument validation off (Pyro's faster setting);
- the floor: plain torch, w = μ + σε for all replicates at once, the negative log joint on all
  the data (logits w Xᵀ), minus the entropy, ``.sum().backward()`` and an Adam step;
- the same plain loop at one replicate, for reference.

Everything is float32, as ``train`` runs. Pyro is imported only when its side runs.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from benchmarks.loops import compose_config
from benchmarks.timing import seconds
from reparam_opt.objectives.logistic_regression import LogisticRegression
from reparam_opt.training import train
from reparam_opt.training.run import Run, resolve

LR = 0.01
SIGMA0 = 0.1  # AutoDiagonalNormal's init_scale


@dataclass
class PyroFigures:
    """Seconds per step of each side, one entry per repeat; ``replicates`` per step of ours and the floor."""

    replicates: int
    ours: list[float]
    pyro: list[float]
    floor: list[float]
    single: list[float]

    def per_second(self, side: str) -> list[float]:
        """Replicate-steps per second of ``side``."""
        per_step = self.replicates if side in ("ours", "floor") else 1
        return [per_step / t for t in getattr(self, side)]

    def over_pyro(self) -> list[float]:
        """Ours over Pyro in replicate-steps per second, per repeat (target ≥ 100)."""
        return [o / p for o, p in zip(self.per_second("ours"), self.per_second("pyro"))]

    def over_floor(self) -> list[float]:
        """Ours over the floor in time per step, per repeat (target ≤ 3)."""
        return [o / f for o, f in zip(self.ours, self.floor)]


def our_run(replicates: int, steps: int) -> tuple[DictConfig, Run]:
    """The config and the resolved run of ours, its model's best ELBO found (cached) before timing."""
    cfg = compose_config(
        "objective=logistic_regression",
        "estimator=trace_elbo",
        "scale=diagonal",
        "entropy_weight=1",
        "n_samples=1",
        "optimizer=adam",
        f"lr={LR}",
        "theta0=0",
        f"sigma={SIGMA0}",
        f"replicates={replicates}",
        f"steps={steps}",
        f"log_every={steps}",  # logged at the first and the last step only
    )
    run = resolve(cfg)
    run.objective.optimal_elbo()  # L-BFGS, once: the model keeps it
    return cfg, run


def ours_timer(replicates: int, steps_short: int, steps_long: int) -> Callable[[], float]:
    """A call that times one ``train`` of each length and returns the seconds per step between them.

    Each run resumes θ and Adam's state where the last one left them; a step costs the same there."""
    short, long = our_run(replicates, steps_short), our_run(replicates, steps_long)

    def per_step() -> float:
        with tempfile.TemporaryDirectory() as run_dir:
            a = seconds(lambda: train(short[0], Path(run_dir) / "short", short[1]))
            b = seconds(lambda: train(long[0], Path(run_dir) / "long", long[1]))
        return (b - a) / (steps_long - steps_short)

    return per_step


def pyro_timer(model: LogisticRegression, steps: int) -> Callable[[], float]:
    """A call that runs ``steps`` SVI steps of Pyro and returns the seconds per step."""
    import pyro
    import pyro.distributions as dist
    from pyro.infer import SVI, Trace_ELBO
    from pyro.infer.autoguide import AutoDiagonalNormal
    from pyro.infer.autoguide.initialization import init_to_mean
    from pyro.optim import Adam

    x, y = model.x64.float(), model.y64.float()

    def logistic() -> None:
        w = pyro.sample("w", dist.Normal(torch.zeros(model.dim), model.prior_scale).to_event(1))
        pyro.sample("y", dist.Bernoulli(logits=x @ w).to_event(1), obs=y)

    pyro.clear_param_store()
    guide = AutoDiagonalNormal(logistic, init_loc_fn=init_to_mean, init_scale=SIGMA0)
    svi = SVI(logistic, guide, Adam({"lr": LR}), Trace_ELBO(num_particles=1))

    def per_step() -> float:
        with pyro.validation_enabled(False):
            return seconds(lambda: [svi.step() for _ in range(steps)]) / steps

    return per_step


def plain_timer(model: LogisticRegression, replicates: int, steps: int) -> Callable[[], float]:
    """A call that runs ``steps`` bare steps of plain torch at ``replicates``; it returns seconds per step."""
    x, y = model.x64.float(), model.y64.float()
    p2, dim = model.prior_scale**2, model.dim
    mu = torch.zeros(replicates, dim, requires_grad=True)
    log_sigma = torch.full((replicates, dim), math.log(SIGMA0), requires_grad=True)
    optimizer = torch.optim.Adam([mu, log_sigma], lr=LR)
    zero = torch.zeros(())

    def step() -> None:
        w = mu + log_sigma.exp() * torch.randn(replicates, dim)
        logits = w @ x.T
        likelihood = (torch.logaddexp(logits, zero) - y * logits).sum(-1)  # as the model computes it
        negative_log_joint = likelihood + w.square().sum(-1) / (2 * p2)
        optimizer.zero_grad()
        (negative_log_joint - log_sigma.sum(-1)).sum().backward()  # entropy: Σ log σ + const
        optimizer.step()

    def per_step() -> float:
        return seconds(lambda: [step() for _ in range(steps)]) / steps

    return per_step


def compare(
    repeats: int,
    replicates: int = 256,
    steps_short: int = 100,
    steps_long: int = 600,
    pyro_steps: int = 500,
    plain_steps: int = 500,
) -> PyroFigures:
    """Each side once to warm up, then ``repeats`` rounds of the four in turn."""
    model = LogisticRegression()
    timers = {
        "ours": ours_timer(replicates, steps_short, steps_long),
        "pyro": pyro_timer(model, pyro_steps),
        "floor": plain_timer(model, replicates, plain_steps),
        "single": plain_timer(model, 1, plain_steps),
    }
    for timer in timers.values():
        timer()
    times: dict[str, list[float]] = {side: [] for side in timers}
    for _ in range(repeats):
        for side, timer in timers.items():
            times[side].append(timer())
    return PyroFigures(replicates, **times)
