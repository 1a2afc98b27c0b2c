"""What one run is made of, built and checked once from its config: the objective, the family, the
estimator, θ (one parameter row per replicate) and its optimizer; and what it will hold in memory.

``resolve`` is the one place a config becomes a run. ``validation.check_train_config`` checks the
config's keys and values against the schemas, builds the objective, the family and the estimator
with Hydra's ``instantiate`` and has each check itself and the others (the objective its
parameters, the family its keys and whether the objective and the estimator apply to it);
``resolve`` adds θ, its optimizer and the step, and returns the ``Run`` the loop is handed. A bad
value raises a ``ConfigError`` whose message is the one line to print.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR

from reparam_opt.estimators import Estimator
from reparam_opt.families import Family, build
from reparam_opt.objectives import Objective, Optimum
from reparam_opt.training.chunks import step_bounds
from reparam_opt.training.config import estimator_of
from reparam_opt.training.resources import Footprint, footprint
from reparam_opt.training.schedule import scheduler
from reparam_opt.training.validation import check_train_config


@dataclass
class Run:
    """What a run is made of, built from its config."""

    objective: Objective
    estimator: Estimator
    #: The estimator with its options from the config (say, ``tau``) bound: ``instantiate``'s partial.
    estimate: Callable[..., Tensor]
    family: Family
    #: The parameter rows (μ, s), [replicates, P]: what the optimizer updates.
    theta: Tensor
    optimizer: torch.optim.Optimizer
    #: Per-sample terms a step may hold at once (``max_batch_elements``).
    max_elements: int
    #: A whole step: ``(cost, q, n_samples, state) -> (terms, their mean over the samples)``,
    #: compiled with ``compile`` (``step_of``).
    step: Callable[..., tuple[Tensor, Tensor]]
    #: θ* and J* where the run has them (``Family.optimum``).
    optimum: Optimum | None
    #: θ* as a [D] vector in θ's dtype and on its device, or None where the run has none.
    theta_star: Tensor | None
    #: σ* where the family has one: a number, or a [D] vector in θ's dtype and on its device.
    sigma_star: float | Tensor | None
    #: What the run will hold at once.
    footprint: Footprint
    #: The learning rate's scheduler, stepped after each update; None for a constant rate.
    schedule: LambdaLR | None = None

    def chunk_bounds(self, n_samples: int) -> list[int]:
        """Row boundaries of an n-sample step's chunks; [0, replicates] for a step made whole."""
        replicates = self.theta.shape[0]
        if not self.estimator.chunks:
            return [0, replicates]
        family = self.family
        return step_bounds(replicates, n_samples, family.dim, family.params, self.max_elements)

    def q(self):
        """q at the current parameters (θ changes in place, so its views are current)."""
        return self.family.q(self.theta.detach())


def resolve(cfg: DictConfig) -> Run:
    """Check ``cfg``, build the run's parts once, check them together, and return the run."""
    parts = check_train_config(cfg)
    objective, family, estimator = parts.objective, parts.family, parts.estimator
    device = torch.device(cfg.device)
    theta = family.initial(cfg.replicates, cfg.theta0, device)
    optimizer: torch.optim.Optimizer = instantiate(cfg.optimizer)([theta])
    estimate = instantiate(cfg.estimator)
    if estimator is not estimate.func:  # a variance-reduction trick applied (``estimators/reduction.py``)
        estimate = partial(estimator, *estimate.args, **estimate.keywords)
    optimum = family.optimum(objective, cfg.theta0)
    return Run(
        objective,
        estimator,
        estimate,
        family,
        theta,
        optimizer,
        cfg.max_batch_elements,
        step_of(estimate, bool(cfg.get("compile", False))),
        optimum,
        None if optimum is None else optimum.point(family.dim, dtype=theta.dtype, device=device),
        as_like(family.sigma_star(objective), theta),
        footprint_of(cfg, family, estimator),
        scheduler(cfg.get("lr_schedule", "constant"), optimizer, cfg.steps),
    )


def as_like(value: float | Tensor | None, theta: Tensor) -> float | Tensor | None:
    """A vector in θ's dtype and on its device; a number or None as it is."""
    return value.to(theta) if isinstance(value, Tensor) else value


def footprint_of(
    cfg: DictConfig, family: Family | None = None, estimator: Estimator | None = None
) -> Footprint:
    """What the run will hold at once (``reparam_opt/training/resources.py``)."""
    family = build(cfg) if family is None else family
    return footprint(
        estimator_of(cfg.estimator) if estimator is None else estimator,
        family,
        cfg.replicates,
        cfg.n_samples,
        cfg.steps,
        cfg.max_batch_elements,
        cfg.variance_draws,
        learned_control=bool(cfg.estimator.get("learn", False)),
    )


def step_of(estimate: Callable[..., Tensor], compile_step: bool) -> Callable[..., tuple[Tensor, Tensor]]:
    """A whole step's terms and their mean; with ``compile_step``, through ``torch.compile``.

    Compiled, inductor fuses the step's elementwise passes and the mean into fewer kernels. Its
    ``fallback_random`` keeps torch's own samplers, so a seed gives the draws of the eager path;
    the fused arithmetic may round the last bit differently (docs/reference.md, ``compile``).
    """

    def step(cost: Objective, q, n_samples: int, state: dict) -> tuple[Tensor, Tensor]:
        terms = estimate(cost, q, n_samples, state=state)
        return terms, terms.mean(-2)

    if not compile_step:
        return step
    return torch.compile(step, dynamic=False, options={"fallback_random": True})
