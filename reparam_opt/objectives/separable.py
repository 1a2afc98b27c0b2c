"""A cost that is a sum over coordinates, f(x) = Σ_i f1(x_i), and its closed forms in D dimensions.

Such an objective is written as its one-dimensional f1 (``f1``) with one-dimensional closed forms
(``value``, ``grad``, ``curvature``, ``second_moment``, ``per_sample_variances``), applied
coordinate by coordinate to μ [..., D] and σ (a number, or a tensor that broadcasts against μ).
In D dimensions the cost is their sum, and so are J and the variance of pathwise's terms,
which only see their own coordinate. The score function's μ-terms f(x)ε_i/σ_i also see every
other coordinate's cost as noise; with A_i = Σ_{j≠i} J_j and F_i the other coordinates' cost,

    Var h_i = V1_i + [2A_i(J_i + σ_i² J_i'') + E F_i²] / σ_i²,

where V1_i is the one-dimensional figure and E[f1(x)ε²] = J + σ²J'' is Stein's identity. For
f = ‖x − k‖² this is the REFERENCE's D-dimensional formula (docs/maths.md, "D dimensions").
In D = 1 every extra term is skipped, so the numbers are the one-dimensional ones exactly.

The scale: ∂J/∂σ_i = σ_i E[f1''] (the heat equation), so ∂J/∂s_i = σ_i² J_i''. The variances of
the scale terms need moments of f1 against (ε² − 1); the squares give them (``scale_variances``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from reparam_opt.objectives.base import Objective


class Separable(Objective):
    """f(x) = Σ_i f1(x_i): a subclass supplies f1 and its one-dimensional closed forms; the
    whole-vector forms the run and the estimators use follow from them here."""

    def f1(self, x: Tensor) -> Tensor:
        """The one-dimensional cost, elementwise."""
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        """f(x) = Σ_i f1(x_i) over the last axis: samples [..., D] give [...].

        In one dimension the sum is a view of the single coordinate: no kernel, forward or backward.
        """
        per_coordinate = self.f1(x)
        return per_coordinate.squeeze(-1) if per_coordinate.shape[-1] == 1 else per_coordinate.sum(-1)

    # One-dimensional closed forms, elementwise in θ; None without one.

    def value(self, theta: Tensor, sigma: Tensor | float) -> Tensor | None:
        """J1(θ) = E_{x~N(θ,σ²)}[f1(x)]."""
        return None

    def grad(self, theta: Tensor, sigma: Tensor | float) -> Tensor | None:
        """J1'(θ)."""
        return None

    def curvature(self, theta: Tensor, sigma: Tensor | float) -> Tensor | None:
        """J1''(θ), which the leave-one-out and the score function's D-dimensional variances need."""
        return None

    def second_moment(self, theta: Tensor, sigma: Tensor | float) -> Tensor | None:
        """E[f1(x)²]."""
        return None

    def per_sample_variances(self, theta: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        """Closed-form variances of one term in one dimension, by estimator name."""
        return {}

    def scale_variances(
        self, theta: Tensor, sigma: Tensor | float, shared: bool
    ) -> dict[str, Callable[[], Tensor]]:
        """Variance of the s-terms summed over scale coordinates, by estimator name, where derived."""
        return {}

    # The whole vector.

    def expectation(self, mu: Tensor, sigma: Tensor | float) -> Tensor | None:
        """J(μ, σ) = Σ_i J1(μ_i, σ_i), [...]."""
        per_coordinate = self.value(mu, sigma)
        return None if per_coordinate is None else per_coordinate.sum(-1)

    def gradient(self, mu: Tensor, sigma: Tensor | float) -> Tensor | None:
        return self.grad(mu, sigma)

    def scale_gradient(self, mu: Tensor, sigma: Tensor | float, learned: str) -> Tensor | None:
        """∂E_q[f]/∂s: σ_i² J_i'' per coordinate [..., D] (diagonal), or their sum [..., 1] (shared)."""
        curvature = self.curvature(mu, sigma)
        if curvature is None or learned == "fixed":
            return None
        per_coordinate = curvature * sigma**2
        return per_coordinate.sum(-1, keepdim=True) if learned == "shared" else per_coordinate

    def term_variances(self, name: str, mu: Tensor, sigma: Tensor | float) -> Tensor | None:
        """Variance of one estimator's μ-term, per coordinate [..., D]; None without a closed form."""
        closed_form = self.per_sample_variances(mu, sigma).get(name)
        if closed_form is None:
            return None
        variances = closed_form()
        if name != "score" or mu.shape[-1] == 1:
            return variances
        parts = (self.value(mu, sigma), self.curvature(mu, sigma), self.second_moment(mu, sigma))
        if any(part is None for part in parts):
            return None
        value, curvature, second = parts
        s2 = sigma**2
        spread = second - value.square()  # Var f1(x_i)
        others = value.sum(-1, keepdim=True) - value  # A_i = E F_i
        others_square = spread.sum(-1, keepdim=True) - spread + others.square()  # E F_i²
        return variances + (2.0 * others * (value + s2 * curvature) + others_square) / s2

    def term_covariances(self, mu: Tensor, sigma: Tensor | float) -> dict[str, Callable[[], Tensor]]:
        """Cov(μ_i-term, μ_j-term) for i ≠ j, [..., D, D], zero on the diagonal; {} without ∇J.

        Score: of f² = Σ_kl f1(x_k)f1(x_l) only the two cross terms k, l = i, j hold both ε_i and ε_j,
        so E[h_i h_j] = 2 E[f1(x_i)ε_i/σ_i] E[f1(x_j)ε_j/σ_j] = 2 ∂_iJ ∂_jJ (Stein), and the covariance
        is ∂_iJ ∂_jJ: 4d_i d_j on ‖x − k‖², with one σ or one per coordinate. Pathwise: 0, each
        term sees its own coordinate only.
        """
        grad = self.grad(mu, sigma)
        if grad is None:
            return {}
        off_diagonal = 1.0 - torch.eye(mu.shape[-1], dtype=mu.dtype, device=mu.device)
        return {
            "score": lambda: grad.unsqueeze(-1) * grad.unsqueeze(-2) * off_diagonal,
            "pathwise": lambda: mu.new_zeros(*mu.shape, mu.shape[-1]),
        }

    def leave_one_out_variances(
        self, score_variances: Tensor, mu: Tensor, sigma: Tensor | float, n: int
    ) -> Tensor | None:
        """n·Var of the leave-one-out estimate, per coordinate, from the score function's variances.

        n·Var(mean)_i = V_oracle,i + (Var f / σ_i² + (∂_i J)²)/(n − 1), with V_oracle,i = V_score,i −
        2J J_i'' − J²/σ_i² (docs/maths.md, "The leave-one-out baseline"); J and Var f are the totals.
        """
        parts = (
            self.value(mu, sigma),
            self.grad(mu, sigma),
            self.curvature(mu, sigma),
            self.second_moment(mu, sigma),
        )
        if any(part is None for part in parts):
            return None
        per_value, grad, curvature, second = parts
        s2 = sigma**2
        value = per_value.sum(-1, keepdim=True)  # in D = 1 the sums over one coordinate are exact
        spread = (second - per_value.square()).sum(-1, keepdim=True)
        oracle = score_variances - 2.0 * value * curvature - value.square() / s2
        return oracle + (spread / s2 + grad.square()) / (n - 1)

    def scale_term_variance(
        self, name: str, mu: Tensor, sigma: Tensor | float, learned: str
    ) -> Tensor | None:
        """Variance of one estimator's s-terms summed over scale coordinates [...]; None without one."""
        if learned == "fixed":
            return None
        closed_form = self.scale_variances(mu, sigma, shared=learned == "shared").get(name)
        return None if closed_form is None else closed_form()
