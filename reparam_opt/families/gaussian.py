"""The Gaussian family q = N(μ, diag σ²) over D coordinates: its q, parameters, scale modes and entropy.

Each replicate's parameters live in one row θ = (μ, s) of P = D + S numbers, with s = log σ and
S the number of learned scale coordinates: none for a ``fixed`` scale (σ = ``sigma``), one for a
``shared`` scale, D for a ``diagonal`` one. One row per replicate keeps the loop, the optimizer,
the divergence mask and the history the same whatever the family's shape. Learning log σ rather
than σ keeps σ positive under any step, as mc_gradients and Pyro's autoguides do.

With ``entropy_weight`` λ the objective is J_λ = E_q[f] − λH(q). H(q) = Σ_i s_i + (D/2) log 2πe
has an exact gradient in s (−λ per diagonal coordinate, −λD for a shared s), which the loop adds
to the estimate: only E_q[f] is ever estimated (docs/maths.md, "Learnable scale").
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from omegaconf import DictConfig
from torch import Tensor
from torch.distributions import Normal

from reparam_opt.families import gaussian_board, gaussian_metrics
from reparam_opt.families.base import Family
from reparam_opt.families.draws import IID
from reparam_opt.objectives.base import Optimum

#: The ``scale`` key's values.
SCALES = ("fixed", "shared", "diagonal")


@dataclass(frozen=True)
class Gaussian:
    """One step's q for every replicate: what an estimator draws from and differentiates.

    ``scale`` is σ as it broadcasts against ``loc`` [replicates, D]: a 0-d tensor when fixed,
    [replicates, 1] when shared, [replicates, D] when diagonal. ``learned`` says which of those
    the estimator returns terms for (none when ``fixed``). ``draws`` is how its ε are drawn
    (``reparam_opt/families/draws.py``): independently unless the run says otherwise.
    """

    loc: Tensor
    scale: Tensor
    learned: str = "fixed"
    draws: Any = IID()

    #: Which family's q it is: the key of an estimator's terms function.
    family: ClassVar[str] = "gaussian"

    @property
    def dim(self) -> int:
        return self.loc.shape[-1]

    @property
    def scale_params(self) -> int:
        """S: the number of learned log-scale coordinates per replicate."""
        return {"fixed": 0, "shared": 1, "diagonal": self.dim}[self.learned]

    @functools.cached_property
    def sample_scale(self) -> Tensor:
        """σ, detached, shaped to broadcast against samples [replicates, n, D] (made once per q)."""
        scale = self.scale.detach()
        return scale.unsqueeze(-1) if scale.dim() == 0 else scale.unsqueeze(-2)

    def sample_shape(self, n_samples: int) -> tuple[int, ...]:
        return (*self.loc.shape[:-1], n_samples, self.dim)

    def rows(self, start: int, stop: int) -> Gaussian:
        """q for the replicates [start, stop): a chunk of a step (``reparam_opt/training/chunks.py``)."""
        scale = self.scale if self.scale.dim() == 0 else self.scale[start:stop]
        return Gaussian(self.loc[start:stop], scale, self.learned, self.draws)

    def with_draws(self, draws: Any) -> Gaussian:
        """The same q, its ε drawn another way (a control variate's independent extra sample)."""
        return Gaussian(self.loc, self.scale, self.learned, draws)

    def normal(self) -> Normal:
        """q as a torch Normal of batch shape [replicates, 1, D]; ``expand`` it to the samples."""
        return Normal(self.loc.detach().unsqueeze(-2), self.sample_scale, validate_args=False)

    def draw(self, n_samples: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws of x per replicate, [replicates, n, D], not differentiated, from ``generator``
        (torch's default one if None)."""
        shape = self.sample_shape(n_samples)
        loc = self.loc.detach().unsqueeze(-2).expand(shape)
        return torch.normal(loc, self.sample_scale.expand(shape), generator=generator)


def at_point(
    replicates: int, dim: int, theta: float, sigma: float, learned: str = "fixed", **like
) -> Gaussian:
    """q with every coordinate of μ at ``theta`` and every σ at ``sigma``: the variance study's point."""
    loc = torch.full((replicates, dim), float(theta), **like)
    if learned == "fixed":
        return Gaussian(loc, torch.tensor(float(sigma), **like))
    width = 1 if learned == "shared" else dim
    return Gaussian(loc, torch.full((replicates, width), float(sigma), **like), learned)


#: Peak bytes of a step per per-sample term (replicates × n × P of them), with small draws and
#: with large ones (``training/resources.py`` says how they were measured; the measurements are in
#: docs/performance.md, "Memory").
BYTES_PER_TERM: dict[str, tuple[float, float]] = {
    "score": (80, 36),
    "score_baseline": (80, 44),
    "pathwise": (40, 24),
    "exact": (8, 4),
}

#: ``measure_valued`` moves one coordinate at a time, so its f-arguments are D times its terms:
#: bytes per term = base + per-coordinate × D, with small draws and with large ones.
MEASURE_VALUED_BYTES = ((16, 20), (8, 12))

#: For an estimator missing from the table (a user's own): the largest figures.
DEFAULT_BYTES = (80, 44)


@dataclass(frozen=True)
class GaussianFamily(Family):
    """``family=gaussian``: the ``dim``, ``scale``, ``entropy_weight`` and ``sigma`` keys, and the
    parameter rows they define."""

    dim: int = 1
    scale: str = "fixed"
    entropy_weight: float = 0.0
    sigma: float = 1.0  # σ when fixed, σ₀ when learned
    #: How the estimators draw ε (the ``draws`` group): independently by default.
    draws: Any = IID()
    #: The RMS error against θ* that ``steps_to_tolerance`` waits for (a key of the run's).
    tolerance: float = 0.35
    #: The ``family.name`` key.
    name: str = "gaussian"

    sample_space: ClassVar[str] = "x real"
    return_metrics: ClassVar[tuple[str, ...]] = (
        "steps_to_tolerance",
        "final_rms_error",
        "stationary_rms",
        "path_length_ratio",
        "diverged",
    )

    @property
    def learned(self) -> bool:
        return self.scale != "fixed"

    @property
    def scale_params(self) -> int:
        return {"fixed": 0, "shared": 1, "diagonal": self.dim}[self.scale]

    @property
    def params(self) -> int:
        """P = D + S: the length of one replicate's parameter row."""
        return self.dim + self.scale_params

    def check(self, cfg: DictConfig, objective: Any, estimator: Any) -> None:
        if self.name != "gaussian":
            raise ValueError(f"bad value family.name={self.name}: must be gaussian for family=gaussian")
        super().check(cfg, objective, estimator)
        objective.check_dim(self.dim)

    def initial(self, replicates: int, theta0: float, device: torch.device) -> Tensor:
        """The parameter rows at the start: μ = ``theta0`` in every coordinate, s = log ``sigma``."""
        theta = torch.full((replicates, self.params), float(theta0), device=device)
        theta[:, self.dim :] = math.log(self.sigma)
        return theta.requires_grad_(True)

    def sigma_of(self, theta: Tensor) -> Tensor | float:
        """σ for the closed forms: the ``sigma`` key when fixed, exp(s) [..., S] when learned."""
        return self.sigma if not self.learned else theta[..., self.dim :].exp()

    def q(self, theta: Tensor) -> Gaussian:
        """The estimators' view of q at the (detached) parameter rows ``theta``."""
        if not self.learned:
            sigma = torch.tensor(float(self.sigma), device=theta.device)
            return Gaussian(self.loc(theta), sigma, draws=self.draws)
        return Gaussian(self.loc(theta), theta[..., self.dim :].exp(), self.scale, self.draws)

    def entropy(self, sigma: Tensor | float) -> Tensor | float:
        """H(q) per replicate: Σ_i log σ_i + (D/2) log 2πe."""
        constant = self.dim * 0.5 * math.log(2.0 * math.pi * math.e)
        if not isinstance(sigma, Tensor):
            return self.dim * math.log(sigma) + constant
        per_coordinate = self.dim if sigma.shape[-1] == 1 else 1
        return sigma.log().sum(-1) * per_coordinate + constant

    def entropy_grad(self, theta: Tensor) -> Tensor | None:
        """∂(−λH)/∂θ, the same for every replicate: zero in μ, −λ per s coordinate (−λD if shared).

        None when there is nothing to add (no entropy term, or a fixed scale, where H is constant).
        """
        if self.entropy_weight == 0 or not self.learned:
            return None
        grad = theta.new_zeros(self.params)
        grad[self.dim :] = -self.entropy_weight * (self.dim if self.scale == "shared" else 1)
        return grad

    def optimum(self, objective: Any, theta0: float) -> Any:
        """θ* and J*: the best q's mean and E_q f there where the model has a best diagonal q
        (``best_q``); else the objective's θ* and J* at the fixed or starting σ, or None."""
        best = self.best_q(objective)
        if best is None:
            return objective.optimum(theta0, self.sigma)
        mu, sigma = best
        return Optimum(mu.clone(), float(objective.expectation(mu, sigma)))

    def best_q(self, objective: Any) -> tuple[Tensor, Tensor] | None:
        """The model's optimal (μ*, σ*) of J_λ where q's scale is learned per coordinate and the
        entropy is weighted: a [D] σ* (``Objective.optimal_q``)."""
        if self.scale != "diagonal" or self.entropy_weight <= 0:
            return None
        return objective.optimal_q(self.entropy_weight)

    def sigma_star(self, objective: Any) -> float | Tensor | None:
        """σ* of J_λ: the model's best diagonal q's σ [D] (``best_q``); or, for a cost whose
        E[∂²f/∂x_i²] is 2 everywhere (a square, the correlated quadratic), ∂J/∂s_i = 2σ² − λ = 0
        gives σ*² = λ/2 (docs/maths.md).

        Without a learned scale σ* is the fixed σ; with λ = 0, or another cost, there is no
        closed-form σ*.
        """
        if not self.learned:
            return self.sigma
        best = self.best_q(objective)
        if best is not None:
            return best[1]
        if not objective.curvature_free() or self.entropy_weight == 0:
            return None
        return math.sqrt(self.entropy_weight / 2.0)

    def objective_star(self, objective: Any, theta0: float) -> float | None:
        """J_λ at (μ*, σ*) where both have closed forms; in one dimension, σ fixed, the objective's own J*."""
        optimum = self.optimum(objective, theta0)
        if optimum is None or optimum.value is None:
            return None
        if self.dim == 1 and not self.learned and self.entropy_weight == 0:
            return optimum.value
        sigma = self.sigma_star(objective)
        if sigma is None:
            return None
        value = float(objective.expectation(optimum.point(self.dim, dtype=torch.float64), sigma))
        return value - self.entropy_weight * float(self.entropy(sigma))

    def elbo(self, objective: Any) -> bool:
        """Whether J is −ELBO: f is a model's negative log joint and the entropy's weight is 1."""
        return objective.negative_log_joint and self.entropy_weight == 1

    def objective_values(self, objective: Any, theta: Tensor) -> Tensor | None:
        """J_λ at each of the rows ``theta`` [..., P], exact, or None without a closed form."""
        sigma = self.sigma_of(theta)
        value = objective.expectation(self.loc(theta), sigma)
        if value is None or self.entropy_weight == 0:
            return value
        return value - self.entropy_weight * torch.as_tensor(self.entropy(sigma))

    def final_metrics(
        self, objective: Any, theta: Tensor, sigma_star: float | Tensor | None
    ) -> dict[str, Any]:
        """The ELBO's where J is −ELBO, and those of a learned σ (``gaussian_metrics``)."""
        return gaussian_metrics.final_metrics(self, objective, theta, sigma_star)

    def sampled_loss(self, objective: Any, q: Gaussian, n_samples: int, generator: Any = None) -> Tensor:
        """f at n draws of q, less λH(q) where the entropy is weighted (J_λ = E_q[f] − λH)."""
        loss = objective(q.draw(n_samples, generator))
        if self.entropy_weight == 0:
            return loss
        sigma = self.sigma if not self.learned else q.scale
        return loss - self.entropy_weight * torch.as_tensor(self.entropy(sigma)).unsqueeze(-1)

    def scalars(
        self, run: Any, theta: Tensor, grad: Tensor, variance: Tensor | None
    ) -> dict[str, Tensor | None]:
        """The per-step scalars of its own (``gaussian_board.scalars``)."""
        return gaussian_board.scalars(self, run, theta, grad, variance)

    def layout(self) -> dict[str, dict[str, list]]:
        return gaussian_board.layout(self.learned, None if self.draws.independent else self.draws.in_step)

    def bytes_per_term(self, estimator: Any, large: bool, learned_control: bool = False) -> float:
        """Peak bytes of a step per per-sample term, with small draws or ``large`` ones."""
        if estimator.per_coordinate:
            base, per_coordinate = MEASURE_VALUED_BYTES[large]
            return base + per_coordinate * self.dim
        return BYTES_PER_TERM.get(estimator.name, DEFAULT_BYTES)[large]
