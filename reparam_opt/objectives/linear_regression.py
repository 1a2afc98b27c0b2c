"""Bayesian linear regression on a dataset scikit-learn ships: f(w) = −log p(y, w) over D weights.

y = Xw + e, e ~ N(0, s²I), w ~ N(0, p²I), with X the dataset's features standardised per column
(mean 0, population standard deviation 1) and a column of ones for the intercept, and y the
target standardised the same way. The negative log joint is a quadratic in w plus a constant:
with Λ = XᵀX/s² + I/p² (the posterior precision) and w* = Λ⁻¹Xᵀy/s² (the posterior mean),

    f(w) = ½(w − w*)ᵀΛ(w − w*) + c,    c = −log p(y, w*),

so under q = N(μ, diag σ²) every closed form is the correlated quadratic's with A = Λ/2 and a
general A (docs/maths.md, "Bayesian linear regression"): E_q f = ½dᵀΛd + ½Σ Λ_jj σ_j² + c with
d = μ − w*, ∇_μ = Λd, ∂/∂s_j = Λ_jj σ_j². The model is conjugate, so the log evidence log p(y)
and the best mean-field ELBO (log p(y) − ½(Σ_j log Λ_jj − log det Λ)) are closed forms too.

With ``batch_size`` B < N, f takes a minibatch of B rows (one per step, ``data.py``), drawn without
replacement from the run's stream, and scales its likelihood by N/B: f stays unbiased, the
gradient becomes doubly stochastic, and the per-sample variances are no longer the closed forms
(they are then not reported).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import Tensor

from reparam_opt.objectives.base import ObjectiveConfig, Optimum, as_tensor
from reparam_opt.objectives.data import DataModel


@dataclass
class LinearRegressionConfig(ObjectiveConfig):
    """−log p(y, w) of Bayesian linear regression on a bundled dataset; scales > 0; a batch size in
    [1, N] or null (all data)."""

    _target_: str = "reparam_opt.objectives.linear_regression.LinearRegression"
    dataset: str = "diabetes"
    noise_scale: float = 1.0
    prior_scale: float = 1.0
    batch_size: Optional[int] = None


class LinearRegression(DataModel):
    """f(w) = −log p(y, w); the model sets D (features + 1)."""

    name = "linear_regression"
    schema = LinearRegressionConfig
    datasets: ClassVar[dict[str, str]] = {"diabetes": "load_diabetes"}
    scale_keys: ClassVar[tuple[str, ...]] = ("noise_scale", "prior_scale")

    def __init__(
        self,
        dataset: str = "diabetes",
        noise_scale: float = 1.0,
        prior_scale: float = 1.0,
        batch_size: int | None = None,
    ) -> None:
        self.noise_scale, self.prior_scale = float(noise_scale), float(prior_scale)
        target = self.read(dataset, batch_size)
        self.y64 = torch.from_numpy((target - target.mean()) / target.std())
        s2, p2 = self.noise_scale**2, self.prior_scale**2
        self.precision = self.x64.T @ self.x64 / s2 + torch.eye(self.dim, dtype=torch.float64) / p2
        self.w_star = torch.linalg.solve(self.precision, self.x64.T @ self.y64 / s2)
        self.constant = float(self.log_joint_negative(self.w_star))
        self.theta_star = None  # θ* is a vector: ``optimum``

    def log_joint_negative(self, w: Tensor) -> Tensor:
        """−log p(y, w) on all the data, in float64, for w [..., D]."""
        s, p = self.noise_scale, self.prior_scale
        residual = self.y64 - w @ self.x64.T
        likelihood = 0.5 * residual.square().sum(-1) / s**2 + self.size * math.log(s * math.sqrt(2 * math.pi))
        prior = 0.5 * w.square().sum(-1) / p**2 + self.dim * math.log(p * math.sqrt(2 * math.pi))
        return likelihood + prior

    def __call__(self, w: Tensor) -> Tensor:
        """−log p(y, w) at w [..., D]: [...]; on a minibatch, scaled by N/B, with ``batch_size``."""
        x, y, scale = self.minibatch(w)
        s, p = self.noise_scale, self.prior_scale
        residual = y - w @ x.T
        likelihood = residual.square().sum(-1) * (0.5 * scale / s**2)
        constant = self.size * math.log(s * math.sqrt(2 * math.pi)) + self.dim * math.log(
            p * math.sqrt(2 * math.pi)
        )
        return likelihood + w.square().sum(-1) * (0.5 / p**2) + constant

    def second_order(self) -> bool:
        """−log p(y, w) is quadratic in w, on the whole data or a minibatch."""
        return True

    def optimum(self, theta0: float, sigma: float) -> Optimum:
        """θ* = w*, the posterior mean: the minimiser of J for any σ, and the optimal q's mean."""
        mu = self.w_star
        return Optimum(mu.clone(), float(self.expectation(mu, sigma)))

    # Closed forms under q = N(μ, diag σ²).

    def _parts(self, mu: Tensor, sigma: Tensor | float) -> tuple[Tensor, Tensor, Tensor]:
        precision = self.precision.to(dtype=mu.dtype, device=mu.device)
        d = mu - self.w_star.to(dtype=mu.dtype, device=mu.device)
        s2 = as_tensor(sigma, mu) ** 2 + torch.zeros_like(mu)
        return precision, d, s2

    def expectation(self, mu: Tensor, sigma: Tensor | float) -> Tensor:
        precision, d, s2 = self._parts(mu, sigma)
        quadratic = 0.5 * (d * (d @ precision)).sum(-1)
        return quadratic + 0.5 * (precision.diagonal() * s2).sum(-1) + self.constant

    def gradient(self, mu: Tensor, sigma: Tensor | float) -> Tensor:
        precision, d, _ = self._parts(mu, sigma)
        return d @ precision

    def scale_gradient(self, mu: Tensor, sigma: Tensor | float, learned: str) -> Tensor | None:
        if learned == "fixed":
            return None
        precision, _, s2 = self._parts(mu, sigma)
        per_coordinate = precision.diagonal() * s2
        return per_coordinate.sum(-1, keepdim=True) if learned == "shared" else per_coordinate

    def term_variances(self, name: str, mu: Tensor, sigma: Tensor | float) -> Tensor | None:
        """Pathwise: Var g_i = Σ_j Λ_ij² σ_j². Score: E[f²ε_i²]/σ_i² − (∂_iJ)² by Stein's identity,
        with f = q + c for the quadratic q = ½dᵀΛd-shaped part (docs/maths.md). None on minibatches."""
        if self.batch_size is not None and self.batch_size < self.size:
            return None
        variances = self.variance_rules(mu, sigma).get(name)
        return None if variances is None else variances()

    def variance_rules(self, mu: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        precision, d, s2 = self._parts(mu, sigma)
        a = 0.5 * precision  # f = (w − w*)ᵀA(w − w*) + c
        a_d = d @ a  # Ad
        sigma_ = s2.sqrt()
        b = sigma_ * a_d  # b = SAd
        big_b = sigma_.unsqueeze(-1) * a * sigma_.unsqueeze(-2)  # B = SAS
        c_q = (d * a_d).sum(-1, keepdim=True)  # dᵀAd
        trace = big_b.diagonal(dim1=-2, dim2=-1).sum(-1, keepdim=True)
        b2 = big_b @ big_b
        b_norm = b.square().sum(-1, keepdim=True)
        tr_b2 = b2.diagonal(dim1=-2, dim2=-1).sum(-1, keepdim=True)
        diag_b = big_b.diagonal(dim1=-2, dim2=-1)
        q_f2 = (
            (c_q + trace).square()
            + 4 * b_norm
            + 2 * tr_b2
            + 8 * b.square()
            + 8 * b2.diagonal(dim1=-2, dim2=-1)
            + 4 * diag_b * (c_q + trace)
        )  # E[q² ε_i²]
        q_f = c_q + trace + 2 * diag_b  # E[q ε_i²]
        c = self.constant

        def score() -> Tensor:
            return (q_f2 + 2 * c * q_f + c**2) / s2 - (2 * a_d).square()

        return {
            "pathwise": lambda: s2 @ precision.square(),
            "score": score,
        }

    def scale_term_variance(
        self, name: str, mu: Tensor, sigma: Tensor | float, learned: str
    ) -> Tensor | None:
        """Pathwise's s-terms, summed over scale coordinates: with A = Λ/2, b = SAd and B = SAS the
        s_j-term is 2ε_j(b_j + (Bε)_j), so diagonal 4‖b‖² + 4Σ_j B_jj² + 4 tr B², shared
        4‖b‖² + 8 tr B² (docs/maths.md). None for other estimators and on minibatches."""
        minibatch = self.batch_size is not None and self.batch_size < self.size
        if name != "pathwise" or learned == "fixed" or minibatch:
            return None
        precision, d, s2 = self._parts(mu, sigma)
        sigma_ = s2.sqrt()
        b = sigma_ * (d @ precision) / 2
        big_b = sigma_.unsqueeze(-1) * precision * sigma_.unsqueeze(-2) / 2
        tr_b2 = big_b.square().sum((-2, -1))
        total = 4 * b.square().sum(-1) + 4 * tr_b2
        if learned == "shared":
            return total + 4 * tr_b2
        return total + 4 * big_b.diagonal(dim1=-2, dim2=-1).square().sum(-1)

    def log_evidence(self) -> float:
        """log p(y) = log N(y; 0, s²I + p²XXᵀ)."""
        x, y = self.x64, self.y64
        covariance = self.noise_scale**2 * torch.eye(self.size, dtype=torch.float64) + self.prior_scale**2 * (
            x @ x.T
        )
        normal = torch.distributions.MultivariateNormal(
            torch.zeros(self.size, dtype=torch.float64), covariance
        )
        return float(normal.log_prob(y))

    def optimal_elbo(self) -> float:
        """The best mean-field ELBO: log p(y) − KL, KL = ½(Σ_j log Λ_jj − log det Λ)."""
        kl = 0.5 * (self.precision.diagonal().log().sum() - torch.logdet(self.precision))
        return self.log_evidence() - float(kl)

    def optimal_q(self, entropy_weight: float) -> tuple[Tensor, Tensor] | None:
        """μ* = w*, σ*_j = √(λ/Λ_jj): ∂J_λ/∂s_j = Λ_jj σ_j² − λ = 0, whatever μ (docs/maths.md)."""
        if entropy_weight <= 0:
            return None
        return self.w_star.clone(), (entropy_weight / self.precision.diagonal()).sqrt()
