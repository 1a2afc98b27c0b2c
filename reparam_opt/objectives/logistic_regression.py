"""Bayesian logistic regression on a dataset scikit-learn ships: f(w) = −log p(y, w) over D weights.

y_i ∈ {0, 1} with p(y_i = 1 | w) = sigmoid(x_iᵀw) and w ~ N(0, p²I), X the dataset's features
standardised per column beside an intercept column (``data.py``). With a_i = x_iᵀw, each point's
−log p(y_i | w) is softplus(a_i) − y_i a_i, computed as log(1 + e^a) without overflow.

The model is not conjugate and E_q f has no closed form, but under q = N(μ, diag σ²) each point
sees w only through a_i ~ N(x_iᵀμ, Σ_j x_ij² σ_j²), one-dimensional: E_q f is a sum of N
one-dimensional quadratures plus the prior's closed form, and its gradients (Bonnet's and Price's
rules) are the exact derivatives of those sums, so ``estimator=exact`` runs and L-BFGS finds the
best mean-field ELBO and the optima of J on them. Gauss–Hermite in ε alone loses accuracy once
a_i's sd passes a few units (the sigmoid's poles at a = ±iπ come within reach of its nodes), as
it does on this data at σ = 1; there the expectation of max(a, 0) is taken in closed form and that
of the rest, log(1 + e^−|a|), by Gauss–Laguerre in a (docs/maths.md, "Bayesian logistic regression").

The closed forms take the flattened leading rows of μ (a run's [steps, replicates, D] history) in
chunks, so that no quadrature block [rows, N, nodes] holds more than ``CHUNK_ELEMENTS``.
There is no log evidence in closed form.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, NamedTuple, Optional

import numpy as np
import torch
from torch import Tensor

from reparam_opt.objectives.base import ObjectiveConfig, Optimum, as_tensor
from reparam_opt.objectives.data import DataModel

#: Nodes of each quadrature rule (Gauss–Hermite, Gauss–Laguerre).
NODES = 64

#: The most elements one quadrature block [rows, N, NODES] holds.
CHUNK_ELEMENTS = 2**20

#: The sd of a_i from which the wide rule takes over from Gauss–Hermite: both are exact to about
#: 1e-14 here, Gauss–Hermite ever less so above it and the wide rule below it (docs/maths.md).
SWITCH = 1.5

#: Quadrature nodes whose weight is below this are left out (their terms are below rounding).
NEGLIGIBLE = 1e-18

SQRT_2PI = math.sqrt(2 * math.pi)

#: The fits stop once the largest gradient coordinate is below this (and warn if it is above 1e-6);
#: the Newton steps' Hessian takes central differences of this step.
GRADIENT_TOLERANCE, NEWTON_STEP = 1e-10, 1e-5

log = logging.getLogger(__name__)


class Rules(NamedTuple):
    """X² [N, D]; probabilists' Gauss–Hermite nodes and weights (summing to 1), E g(ε) ≈ Σ w_k g(t_k);
    Gauss–Laguerre nodes ±u_k, each with λ_k·e^u_k·log(1 + e^−u_k), for ∫ log(1 + e^−|a|) h(a) da."""

    x2: Tensor
    nodes: Tensor
    weights: Tensor
    laguerre: Tensor
    tail: Tensor


@dataclass
class LogisticRegressionConfig(ObjectiveConfig):
    """−log p(y, w) of Bayesian logistic regression on a bundled dataset; a prior scale > 0; a batch
    size in [1, N] or null (all data)."""

    _target_: str = "reparam_opt.objectives.logistic_regression.LogisticRegression"
    dataset: str = "breast_cancer"
    prior_scale: float = 1.0
    batch_size: Optional[int] = None


def softplus(a: Tensor) -> Tensor:
    """log(1 + e^a), exact for every a (torch's ``softplus`` returns a itself above a = 20)."""
    return torch.logaddexp(a, torch.zeros((), dtype=a.dtype, device=a.device))


def minimise(start: Tensor, value: Callable[[Tensor], Tensor], grad: Callable[[Tensor], Tensor]) -> Tensor:
    """The minimiser of a smooth function of θ [P] (``value`` [...] and ``grad`` [..., P] of rows θ
    [..., P]) from ``start``: L-BFGS with a strong-Wolfe line search, which judges steps by the value
    and so stalls near rounding, then Newton steps on the gradient alone (``newton``)."""
    x = start.detach().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [x], max_iter=1000, history_size=50, tolerance_grad=GRADIENT_TOLERANCE, line_search_fn="strong_wolfe"
    )

    def closure() -> Tensor:
        x.grad = grad(x.detach())
        return value(x.detach())

    optimizer.step(closure)
    return newton(x.detach(), grad)


def newton(x: Tensor, grad: Callable[[Tensor], Tensor], rounds: int = 6) -> Tensor:
    """Newton steps on ∇ = 0 with the Hessian by central differences of ``grad`` (one batched call),
    while they shrink the gradient and it is above ``GRADIENT_TOLERANCE``."""
    g = grad(x)
    steps = torch.eye(len(x), dtype=x.dtype, device=x.device) * NEWTON_STEP
    for _ in range(rounds):
        if g.abs().max() <= GRADIENT_TOLERANCE:
            break
        ahead, behind = grad(torch.cat([x + steps, x - steps])).chunk(2)
        hessian = (ahead - behind) / (2 * NEWTON_STEP)
        x_new = x - torch.linalg.solve(0.5 * (hessian + hessian.T), g)
        g_new = grad(x_new)
        if not g_new.abs().max() < g.abs().max():
            break
        x, g = x_new, g_new
    if g.abs().max() > 1e-6:
        log.warning("the fit stopped at a largest gradient coordinate of %.3g", float(g.abs().max()))
    return x


class LogisticRegression(DataModel):
    """f(w) = −log p(y, w); the model sets D (features + 1)."""

    name = "logistic_regression"
    schema = LogisticRegressionConfig
    datasets: ClassVar[dict[str, str]] = {"breast_cancer": "load_breast_cancer"}
    scale_keys: ClassVar[tuple[str, ...]] = ("prior_scale",)

    def __init__(
        self, dataset: str = "breast_cancer", prior_scale: float = 1.0, batch_size: int | None = None
    ) -> None:
        self.prior_scale = float(prior_scale)
        target = self.read(dataset, batch_size)
        self.y64 = torch.from_numpy(np.asarray(target, dtype=np.float64))
        self.theta_star = None  # θ* is a vector: ``optimum``
        self._rules: dict[tuple, Rules] = {}
        self._optima: dict[float, Optimum] = {}
        self._q: dict[float, tuple[Tensor, Tensor]] = {}

    def __call__(self, w: Tensor) -> Tensor:
        """−log p(y, w) at w [..., D]: [...]; on a minibatch, scaled by N/B, with ``batch_size``."""
        x, y, scale = self.minibatch(w)
        a = w @ x.T
        likelihood = (softplus(a) - y * a).sum(-1) * scale
        return likelihood + self.prior(w.square().sum(-1))

    def prior(self, square_norm: Tensor) -> Tensor:
        """−log N(w; 0, p²I) from ‖w‖² (or its expectation under q)."""
        return square_norm * (0.5 / self.prior_scale**2) + self.dim * math.log(self.prior_scale * SQRT_2PI)

    def rules(self, like: Tensor) -> Rules:
        """For the closed forms under q = N(μ, diag σ²): X² and both quadrature rules (less the nodes
        whose weight is below ``NEGLIGIBLE``) in ``like``'s dtype and on its device, made once each."""
        key = (like.dtype, like.device)
        if key not in self._rules:
            nodes, weights = np.polynomial.hermite_e.hermegauss(NODES)
            weights = weights / SQRT_2PI
            laguerre, laguerre_weights = np.polynomial.laguerre.laggauss(NODES)
            tail = laguerre_weights * np.exp(laguerre) * np.log1p(np.exp(-laguerre))
            hermite, half_line = weights > NEGLIGIBLE, tail > NEGLIGIBLE
            both_sides = np.concatenate([laguerre[half_line], -laguerre[half_line]])
            arrays = (nodes[hermite], weights[hermite], both_sides, np.tile(tail[half_line], 2))
            cast = [torch.from_numpy(v).to(like.device, like.dtype) for v in arrays]
            self._rules[key] = Rules(self.x64.square().to(like.device, like.dtype), *cast)
        return self._rules[key]

    def per_row(self, mu: Tensor, sigma: Tensor | float, block: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
        """``block(μ [c, D], σ² [c, D]) -> [c, k]`` over the flattened rows of μ and σ broadcast
        together, in chunks of c rows whose quadrature block stays under ``CHUNK_ELEMENTS``: [..., k]."""
        s2 = as_tensor(sigma, mu) ** 2
        shape = torch.broadcast_shapes(mu.shape, s2.shape)
        mu_rows, s2_rows = mu.expand(shape).reshape(-1, self.dim), s2.expand(shape).reshape(-1, self.dim)
        chunk, starts = max(1, CHUNK_ELEMENTS // (self.size * NODES)), range(0, max(len(mu_rows), 1))
        out = torch.cat([block(mu_rows[i : i + chunk], s2_rows[i : i + chunk]) for i in starts[::chunk]])
        return out.reshape(*shape[:-1], out.shape[-1])

    def moments(self, mu: Tensor, s2: Tensor, derivatives: bool) -> tuple[Tensor, ...]:
        """Per data point [c, N], with a ~ N(m, v), m = x_iᵀμ, v = Σ_j x_ij²σ_j²: the mean m, and
        E softplus(a), or its derivatives ∂/∂m = E sigmoid(a) and ∂/∂v, each point by the rule that
        suits its sd (and only by that one)."""
        x, _ = self.data(mu)
        rules = self.rules(mu)
        m, sd = mu @ x.T, (s2 @ rules.x2.T).sqrt()
        narrow = sd < SWITCH
        out = [m.new_zeros(m.shape) for _ in range(1 + derivatives)]
        for mask, rule in ((narrow, self.narrow), (~narrow, self.wide)):
            if bool(mask.any()):
                parts = rule(m[mask], sd[mask], rules, derivatives)
                out = [whole.index_put((mask,), part) for whole, part in zip(out, parts)]
        return m, *out

    @staticmethod
    def narrow(m: Tensor, sd: Tensor, rules: Rules, derivatives: bool) -> tuple[Tensor, ...]:
        """Gauss–Hermite in ε, a = m + sd·ε; ∂/∂v by Price's rule, ½E[sigmoid'(a)]."""
        a = torch.addcmul(m.unsqueeze(-1), sd.unsqueeze(-1), rules.nodes)
        if not derivatives:
            return (softplus(a) @ rules.weights,)
        sig = torch.sigmoid(a)
        return sig @ rules.weights, 0.5 * ((sig * (1 - sig)) @ rules.weights)

    @staticmethod
    def wide(m: Tensor, sd: Tensor, rules: Rules, derivatives: bool) -> tuple[Tensor, ...]:
        """softplus(a) = max(a, 0) + log(1 + e^−|a|): the first term's expectation in closed form, the
        second's by Gauss–Laguerre in a on each half-line (nodes ±u), against the density N(a; m, v)
        and its derivatives in m and v (the nodes do not move with q)."""
        ratio = m / sd
        normal_cdf, normal_pdf = torch.special.ndtr(ratio), (-0.5 * ratio.square()).exp() / SQRT_2PI
        z = torch.addcmul(-ratio.unsqueeze(-1), sd.reciprocal().unsqueeze(-1), rules.laguerre)
        h = (-0.5 * z.square()).exp()  # N(a; m, v)·sd√(2π) at a = ±u
        scale = 1 / (sd * SQRT_2PI)
        if not derivatives:
            return (m * normal_cdf + sd * normal_pdf + scale * (h @ rules.tail),)
        hz = h * z
        dm = normal_cdf + scale * (hz @ rules.tail) / sd
        dv = normal_pdf + scale * ((hz * z) @ rules.tail - h @ rules.tail) / sd
        return dm, dv / (2 * sd)

    def expectation(self, mu: Tensor, sigma: Tensor | float) -> Tensor:
        """E_q f = Σ_i (E softplus(a_i) − y_i x_iᵀμ) + ½(‖μ‖² + Σ_j σ_j²)/p² + D log(p√(2π))."""

        def block(mu: Tensor, s2: Tensor) -> Tensor:
            _, y = self.data(mu)
            m, mean = self.moments(mu, s2, derivatives=False)
            return ((mean - y * m).sum(-1) + self.prior((mu.square() + s2).sum(-1))).unsqueeze(-1)

        return self.per_row(mu, sigma, block)[..., 0]

    def derivatives(self, mu: Tensor, sigma: Tensor | float) -> Tensor:
        """∇_μ E_q f [..., D] beside ∂E_q f/∂s_j [..., D] for a diagonal s = log σ: [..., 2D].

        Bonnet: ∇_μ = Σ_i x_i (E sigmoid(a_i) − y_i) + μ/p². Price: ∂/∂s_j = 2σ_j² ∂/∂σ_j² =
        σ_j²(2Σ_i x_ij² ∂E softplus(a_i)/∂v_i + 1/p²)."""

        def block(mu: Tensor, s2: Tensor) -> Tensor:
            x, y = self.data(mu)
            _, dm, dv = self.moments(mu, s2, derivatives=True)
            p2 = self.prior_scale**2
            return torch.cat([(dm - y) @ x + mu / p2, s2 * (2 * dv @ self.rules(mu).x2 + 1 / p2)], -1)

        return self.per_row(mu, sigma, block)

    def gradient(self, mu: Tensor, sigma: Tensor | float) -> Tensor:
        return self.derivatives(mu, sigma)[..., : self.dim]

    def scale_gradient(self, mu: Tensor, sigma: Tensor | float, learned: str) -> Tensor | None:
        if learned == "fixed":
            return None
        per_coordinate = self.derivatives(mu, sigma)[..., self.dim :]
        return per_coordinate.sum(-1, keepdim=True) if learned == "shared" else per_coordinate

    def entropy(self, sigma: Tensor) -> Tensor:
        """H(q) = Σ_j log σ_j + (D/2) log 2πe for a diagonal σ [..., D]."""
        return sigma.log().sum(-1) + 0.5 * self.dim * math.log(2 * math.pi * math.e)

    def fit_q(
        self, entropy_weight: float, mu0: Tensor | float = 0.0, sigma0: Tensor | float = 0.1
    ) -> tuple[Tensor, Tensor]:
        """(μ*, σ*) [D] float64 minimising J_λ = E_q f − λH(q) over diagonal Gaussians, from
        (``mu0``, ``sigma0``), on (μ, s = log σ) with the closed-form gradients (``minimise``)."""
        like, dim, weight = torch.zeros(self.dim, dtype=torch.float64), self.dim, float(entropy_weight)
        start = torch.cat([like + mu0, (like + sigma0).log()])

        def value(theta: Tensor) -> Tensor:
            sigma = theta[..., dim:].exp()
            return self.expectation(theta[..., :dim], sigma) - weight * self.entropy(sigma)

        def grad(theta: Tensor) -> Tensor:
            derivatives = self.derivatives(theta[..., :dim], theta[..., dim:].exp())
            derivatives[..., dim:] -= weight
            return derivatives

        theta = minimise(start, value, grad)
        return theta[:dim], theta[dim:].exp()

    def optimal_q(self, entropy_weight: float) -> tuple[Tensor, Tensor] | None:
        """The best diagonal q of J_λ, from μ = 0, σ = 0.1; None for λ ≤ 0 (σ* → 0)."""
        weight = float(entropy_weight)
        if weight <= 0:
            return None
        if weight not in self._q:
            self._q[weight] = self.fit_q(weight)
        mu, sigma = self._q[weight]
        return mu.clone(), sigma.clone()

    def optimal_elbo(self) -> float:
        mu, sigma = self.optimal_q(1.0)  # the best mean-field ELBO: −J_1 there
        return float(self.entropy(sigma) - self.expectation(mu, sigma))

    def optimum(self, theta0: float, sigma: float) -> Optimum:
        """μ* minimising E_q f at the fixed σ (E_q f is strictly convex in μ: one minimiser,
        whatever θ0), and J there; by L-BFGS from μ = 0."""
        sigma = float(sigma)
        if sigma not in self._optima:
            start = torch.zeros(self.dim, dtype=torch.float64)
            mu = minimise(start, lambda mu: self.expectation(mu, sigma), lambda mu: self.gradient(mu, sigma))
            self._optima[sigma] = Optimum(mu, float(self.expectation(mu, sigma)))
        optimum = self._optima[sigma]
        return Optimum(optimum.theta.clone(), optimum.value)
