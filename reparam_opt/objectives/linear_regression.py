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

With ``batch_size`` B < N, each evaluation of f takes a fresh minibatch of B rows, drawn without
replacement from the run's stream, and scales its likelihood by N/B: f stays unbiased, the
gradient becomes doubly stochastic, and the per-sample variances are no longer the closed forms
(they are then not reported).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from reparam_opt.objectives.base import Objective, ObjectiveConfig, Optimum, as_tensor

#: The datasets it may load from scikit-learn's bundled copies (no download), by their loaders in
#: ``sklearn.datasets``, imported when a model is built: scikit-learn takes a second to import.
DATASETS = {"diabetes": "load_diabetes"}


def load(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """The dataset's features and target."""
    from sklearn import datasets

    return getattr(datasets, DATASETS[dataset])(return_X_y=True)


@dataclass
class LinearRegressionConfig(ObjectiveConfig):
    """−log p(y, w) of Bayesian linear regression on a bundled dataset; scales > 0; a batch size in
    [1, N] or null (all data)."""

    _target_: str = "reparam_opt.objectives.linear_regression.LinearRegression"
    dataset: str = "diabetes"
    noise_scale: float = 1.0
    prior_scale: float = 1.0
    batch_size: Optional[int] = None


def design(features: np.ndarray) -> np.ndarray:
    """Features standardised per column (population standard deviation) beside an intercept column."""
    standard = (features - features.mean(0)) / features.std(0)
    return np.hstack([standard, np.ones((len(standard), 1))])


class LinearRegression(Objective):
    """f(w) = −log p(y, w); the model sets D (features + 1)."""

    name = "linear_regression"
    schema = LinearRegressionConfig
    negative_log_joint = True

    def __init__(
        self,
        dataset: str = "diabetes",
        noise_scale: float = 1.0,
        prior_scale: float = 1.0,
        batch_size: int | None = None,
    ) -> None:
        self.dataset, self.noise_scale, self.prior_scale = dataset, float(noise_scale), float(prior_scale)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.validate_parameters()
        features, target = load(dataset)
        x = design(features)
        y = (target - target.mean()) / target.std()
        self.x64, self.y64 = torch.from_numpy(x), torch.from_numpy(y)
        s2, p2 = self.noise_scale**2, self.prior_scale**2
        self.precision = self.x64.T @ self.x64 / s2 + torch.eye(x.shape[1], dtype=torch.float64) / p2
        self.w_star = torch.linalg.solve(self.precision, self.x64.T @ self.y64 / s2)
        self.constant = float(self.log_joint_negative(self.w_star))
        self.theta_star = None  # θ* is a vector: ``optimum``
        self._cast: dict[tuple, tuple[Tensor, Tensor]] = {}

    @property
    def size(self) -> int:
        """N, the data points."""
        return self.x64.shape[0]

    @property
    def dim(self) -> int:
        """D, the weights: the features and the intercept."""
        return self.x64.shape[1]

    def validate_parameters(self) -> None:
        """The dataset and the scales, before the data are loaded; the batch size needs N."""
        if self.dataset not in DATASETS:
            raise ValueError(
                f"bad value objective.dataset={self.dataset}: must be one of {', '.join(DATASETS)}"
            )
        for key in ("noise_scale", "prior_scale"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"bad value objective.{key}={value}: must be a finite number > 0")

    def validate(self) -> None:
        if self.batch_size is not None and not 1 <= self.batch_size <= self.size:
            raise ValueError(
                f"bad value objective.batch_size={self.batch_size}: must be null (all data) or an "
                f"integer from 1 to {self.size}, the data points of {self.dataset}"
            )

    def check_dim(self, dim: int) -> None:
        if dim != self.dim:
            raise ValueError(
                f"bad value dim={dim}: objective={self.name} on {self.dataset} has {self.dim} weights "
                f"({self.dim - 1} features and the intercept); leave dim at {self.dim}"
            )

    def log_joint_negative(self, w: Tensor) -> Tensor:
        """−log p(y, w) on all the data, in float64, for w [..., D]."""
        s, p = self.noise_scale, self.prior_scale
        residual = self.y64 - w @ self.x64.T
        likelihood = 0.5 * residual.square().sum(-1) / s**2 + self.size * math.log(s * math.sqrt(2 * math.pi))
        prior = 0.5 * w.square().sum(-1) / p**2 + self.dim * math.log(p * math.sqrt(2 * math.pi))
        return likelihood + prior

    def data(self, like: Tensor) -> tuple[Tensor, Tensor]:
        """X and y in ``like``'s dtype and on its device, made once each."""
        key = (like.dtype, like.device)
        if key not in self._cast:
            self._cast[key] = (self.x64.to(like.device, like.dtype), self.y64.to(like.device, like.dtype))
        return self._cast[key]

    def __call__(self, w: Tensor) -> Tensor:
        """−log p(y, w) at w [..., D]: [...]; on a fresh minibatch, scaled by N/B, with ``batch_size``."""
        x, y = self.data(w)
        scale = 1.0
        if self.batch_size is not None and self.batch_size < self.size:
            rows = torch.randperm(self.size, device=w.device)[: self.batch_size]
            x, y, scale = x[rows], y[rows], self.size / self.batch_size
        s, p = self.noise_scale, self.prior_scale
        residual = y - w @ x.T
        likelihood = residual.square().sum(-1) * (0.5 * scale / s**2)
        constant = self.size * math.log(s * math.sqrt(2 * math.pi)) + self.dim * math.log(
            p * math.sqrt(2 * math.pi)
        )
        return likelihood + w.square().sum(-1) * (0.5 / p**2) + constant

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
