"""What one run is made of, built from its config: the objective, the estimator, the family,
θ (one parameter row per replicate) and its optimizer; and what it will hold in memory at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor

from reparam_opt.estimators import Estimator
from reparam_opt.families.bernoulli import BernoulliFamily, BernoulliQ
from reparam_opt.families.gaussian import Gaussian, GaussianFamily
from reparam_opt.objectives import Objective, Optimum, ShiftedSquare
from reparam_opt.training.chunks import step_bounds
from reparam_opt.training.config import estimator_of
from reparam_opt.training.resources import Footprint, footprint


@dataclass
class Run:
    """What a run is made of, built from its config."""

    objective: Objective
    optimum: Optimum | None
    estimator: Estimator
    #: The estimator with its options from the config (say, ``tau``) bound: ``instantiate``'s partial.
    estimate: Callable[..., Tensor]
    family: GaussianFamily | BernoulliFamily
    #: The parameter rows (μ, s), [replicates, P]: what the optimizer updates.
    theta: Tensor
    optimizer: torch.optim.Optimizer
    #: σ as a tensor, for a fixed scale.
    fixed_scale: Tensor
    #: Per-sample terms a step may hold at once (``max_batch_elements``).
    max_elements: int
    #: A whole step: ``(cost, q, n_samples, state) -> (terms, their mean over the samples)``,
    #: compiled with ``compile`` (``step_of``).
    step: Callable[..., tuple[Tensor, Tensor]]

    @property
    def theta_star(self) -> float | None:
        return None if self.optimum is None else self.optimum.theta

    @property
    def sigma_star(self) -> float | None:
        return self.family.sigma_star(isinstance(self.objective, ShiftedSquare))

    def chunk_bounds(self, n_samples: int) -> list[int]:
        """Row boundaries of an n-sample step's chunks; [0, replicates] for a step made whole."""
        replicates = self.theta.shape[0]
        if not self.estimator.chunks:
            return [0, replicates]
        family = self.family
        return step_bounds(replicates, n_samples, family.dim, family.params, self.max_elements)

    def q(self) -> Gaussian | BernoulliQ:
        """q at the current parameters (θ changes in place, so its views are current)."""
        return self.family.q(self.theta.detach(), self.fixed_scale)


def family_of(cfg: DictConfig) -> GaussianFamily | BernoulliFamily:
    if cfg.family.name == "bernoulli":
        return BernoulliFamily()
    return GaussianFamily(int(cfg.dim), str(cfg.scale), float(cfg.entropy_weight), float(cfg.sigma))


def footprint_of(cfg: DictConfig) -> Footprint:
    """What the run will hold at once (``reparam_opt/training/resources.py``)."""
    family = family_of(cfg)
    return footprint(
        estimator_of(cfg.estimator),
        family.name,
        family.dim,
        family.params,
        cfg.replicates,
        cfg.n_samples,
        cfg.steps,
        cfg.max_batch_elements,
        cfg.variance_draws,
        learned_control=bool(cfg.estimator.get("learn", False)),
    )


def setup(cfg: DictConfig) -> Run:
    """Build the objective, the estimator, θ (one row per replicate), its optimizer and q's fixed σ."""
    device = torch.device(cfg.device)
    objective: Objective = instantiate(cfg.objective)
    family = family_of(cfg)
    theta = family.initial(cfg.replicates, cfg.theta0, device)
    optimizer: torch.optim.Optimizer = instantiate(cfg.optimizer)([theta])
    estimator = estimator_of(cfg.estimator)
    estimate = instantiate(cfg.estimator)
    return Run(
        objective,
        objective.optimum(cfg.theta0, cfg.sigma),
        estimator,
        estimate,
        family,
        theta,
        optimizer,
        torch.tensor(float(cfg.sigma), device=device),
        cfg.max_batch_elements,
        step_of(estimate, bool(cfg.get("compile", False))),
    )


def step_of(estimate: Callable[..., Tensor], compile_step: bool) -> Callable[..., tuple[Tensor, Tensor]]:
    """A whole step's terms and their mean; with ``compile_step``, through ``torch.compile``.

    Compiled, inductor fuses the step's elementwise passes and the mean into fewer kernels. Its
    ``fallback_random`` keeps torch's own samplers, so a seed gives the draws of the eager path;
    the fused arithmetic may round the last bit differently (docs/reference.md, ``compile``).
    """

    def step(cost: Objective, q: Gaussian | BernoulliQ, n_samples: int, state: dict) -> tuple[Tensor, Tensor]:
        terms = estimate(cost, q, n_samples, state=state)
        return terms, terms.mean(-2)

    if not compile_step:
        return step
    return torch.compile(step, dynamic=False, options={"fallback_random": True})
