"""The Bernoulli family: b ~ Bernoulli(p), p = σ(θ), θ the logit; the toy of REBAR and RELAX.

Each replicate's parameter row is its logit θ, [replicates, 1], so the loop, the optimizer, the
divergence mask and the history are the Gaussian family's. Minimising J(θ) = E[(b − t)²] over
θ has no minimiser for t ≠ ½ (θ → −∞ for t < ½, where J → t²), so the errors measured against
θ* are not reported; the exact loss J(θ_t) is (``objective/mean``, and summary.json's
``final_objective``). Every closed form is by enumeration over b ∈ {0, 1} (docs/maths.md,
"The Bernoulli toy").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from omegaconf import DictConfig
from torch import Tensor
from torch.distributions import Bernoulli

from reparam_opt.families.base import LOSS_LAYOUT, Q_KEYS, Family, theta_layout
from reparam_opt.families.draws import IID
from reparam_opt.families.statistics import average, finite_or_none


@dataclass(frozen=True)
class BernoulliQ:
    """One step's q for every replicate: Bernoulli(σ(θ)) with the logits ``logits`` [replicates, 1]."""

    logits: Tensor

    #: Which family's q it is: the key of an estimator's terms function.
    family: ClassVar[str] = "bernoulli"

    def sample_shape(self, n_samples: int) -> tuple[int, ...]:
        return (*self.logits.shape[:-1], n_samples, 1)

    def rows(self, start: int, stop: int) -> BernoulliQ:
        """q for the replicates [start, stop): a chunk of a step (``reparam_opt/training/chunks.py``)."""
        return BernoulliQ(self.logits[start:stop])

    def per_sample_logits(self, n_samples: int) -> Tensor:
        """A leaf that is a broadcast view of the logits, one entry per sample: [replicates, n, 1]."""
        return self.logits.detach().unsqueeze(-2).expand(self.sample_shape(n_samples)).requires_grad_(True)

    def sample(self, n_samples: int) -> Tensor:
        """n draws of b per replicate, [replicates, n, 1]."""
        logits = self.logits.detach().unsqueeze(-2).expand(self.sample_shape(n_samples))
        return Bernoulli(logits=logits, validate_args=False).sample()

    def draw(self, n_samples: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws of b per replicate, [replicates, n, 1], from ``generator``."""
        probs = torch.sigmoid(self.logits.detach()).unsqueeze(-2).expand(self.sample_shape(n_samples))
        return torch.bernoulli(probs, generator=generator)


#: Peak bytes of a step per per-sample term (``training/resources.py``), with small draws and with
#: large ones; REBAR with ``learn`` keeps a second-order graph.
BYTES_PER_TERM: dict[str, tuple[float, float]] = {
    "score": (48, 24),
    "score_baseline": (56, 32),
    "score_ema": (60, 28),
    "exact": (4, 4),
    "concrete": (87, 51),
    "straight_through": (91, 64),
    "rebar": (160, 86),
    "rebar learned": (268, 164),
    "relax": (723, 540),
}

#: For an estimator missing from the table (a user's own): the Gaussian family's largest figures.
DEFAULT_BYTES = (80, 44)

#: Its Custom Scalars page: the logit θ, p = σ(θ), the loss, and the gradient's variance both
#: plain and as ln of the single-sample variance (the REBAR and RELAX papers' plot), each beside
#: its closed form.
LAYOUT = {
    "theta": {**theta_layout(rms_error=False), "p = sigmoid(theta): mean": ["Multiline", ["prob/mean"]]},
    **LOSS_LAYOUT,
    "gradient": {
        "variance: in-step estimate vs closed form": [
            "Multiline",
            ["grad/variance", "grad/variance_analytic"],
        ],
        "log variance (n x variance): estimate vs closed form": [
            "Multiline",
            ["grad/log_variance", "grad/log_variance_analytic"],
        ],
        "mean estimate vs exact gradient": ["Multiline", ["grad/mean", "grad/exact"]],
    },
}


@dataclass(frozen=True)
class BernoulliFamily(Family):
    """``family=bernoulli``: one logit per replicate. It takes the keys of q that only the Gaussian
    family uses (``Q_KEYS``) to refuse, in one line, any set off its neutral value."""

    dim: int = 1
    scale: str = "fixed"
    entropy_weight: float = 0.0
    sigma: float = 1.0
    tolerance: float = 0.35
    #: How ε would be drawn: a Bernoulli draws b, so only independently (``draws=iid``).
    draws: Any = IID()
    name: str = "bernoulli"

    sample_space: ClassVar[str] = "b in {0, 1}"
    return_metrics: ClassVar[tuple[str, ...]] = ("final_objective", "path_length_ratio", "diverged")
    params: ClassVar[int] = 1
    learned: ClassVar[bool] = False

    def check(self, cfg: DictConfig, objective: Any, estimator: Any) -> None:
        if self.name != "bernoulli":
            raise ValueError(f"bad value family.name={self.name}: must be bernoulli for family=bernoulli")
        super().check(cfg, objective, estimator)
        for key, neutral in Q_KEYS.items():
            self.refuse(key, getattr(self, key), neutral)
        if self.draws.name != IID.name:
            raise ValueError(
                f"bad value draws={self.draws.name}: family=bernoulli draws b independently; "
                "antithetic and Sobol' draws apply to family=gaussian only"
            )

    def initial(self, replicates: int, theta0: float, device: torch.device) -> Tensor:
        return torch.full((replicates, 1), float(theta0), device=device, requires_grad=True)

    def q(self, theta: Tensor) -> BernoulliQ:
        return BernoulliQ(theta)

    @staticmethod
    def closed_form_variance(estimator: str, objective: Any, theta: Tensor, n: int) -> Tensor | None:
        """n × Var(the n-sample estimate) in closed form, per replicate, or None without one."""
        if estimator == "score":
            return objective.per_sample_variances(theta)["score"]()[..., 0]
        if estimator == "score_baseline" and n >= 2:
            return objective.leave_one_out_variance(theta, n)[..., 0]
        if estimator == "exact":
            return torch.zeros_like(theta[..., 0])
        return None

    def scalars(
        self, run: Any, theta: Tensor, grad: Tensor, variance: Tensor | None
    ) -> dict[str, Tensor | None]:
        """θ is the logit [steps, replicates, 1]; p = σ(θ) beside it, and ``grad/log_variance``, ln of
        the single-sample variance n·Var(estimate), as RELAX Fig. 1, beside its closed form where
        there is one. A step whose sample variances are all 0 logs no ``grad/log_variance`` (ln 0):
        rare outcomes carry a baseline's variance once p is small."""
        objective, n = run.objective, run.n_samples
        # by the estimator's name, so not for one with a trick applied (a moving average)
        name = None if run.estimator.trick else run.estimator.name
        analytic = self.closed_form_variance(name, objective, theta, n)
        in_step = None if variance is None else variance[..., 0].mean(-1)
        return {
            "prob/mean": average(theta.sigmoid()),
            "objective/mean": objective.value(theta)[..., 0].mean(-1),
            "grad/mean": average(grad),
            "grad/exact": average(objective.grad(theta)),
            "grad/variance": in_step,
            "grad/variance_analytic": None if analytic is None else (analytic / n).mean(-1),
            "grad/log_variance": None if in_step is None else (in_step * n).log(),
            "grad/log_variance_analytic": None if analytic is None else analytic.mean(-1).log(),
        }

    def layout(self) -> dict[str, dict[str, list]]:
        return LAYOUT

    def final_metrics(self, objective: Any, theta: Tensor, sigma_star: float | None) -> dict[str, Any]:
        """The exact loss J(θ) and p = σ(θ) over the live replicates' logits, means, and θ's median."""
        theta = theta[..., 0]
        if theta.numel() == 0:
            return dict.fromkeys(("final_objective", "final_prob", "final_theta_median"))
        return {
            "final_objective": finite_or_none(objective.value(theta).mean()),
            "final_prob": finite_or_none(torch.sigmoid(theta).mean()),
            "final_theta_median": finite_or_none(theta.median()),
        }

    def bytes_per_term(self, estimator: Any, large: bool, learned_control: bool = False) -> float:
        name = f"{estimator.name} learned" if learned_control else estimator.name
        return BYTES_PER_TERM.get(name, DEFAULT_BYTES)[large]
