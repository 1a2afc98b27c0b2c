"""What a Gaussian run reports at its end, beside the common metrics: the ELBO's where J is −ELBO,
and a learned σ's against σ*, which is one number (a square's closed form) or one per coordinate
(a model's best diagonal q)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from reparam_opt.families.statistics import finite_or_none, quantiles


def final_metrics(
    family: Any, objective: Any, theta: Tensor, sigma_star: float | Tensor | None
) -> dict[str, Any]:
    """``elbo_metrics`` and ``scale_metrics`` at the live replicates' rows ``theta``."""
    return {**elbo_metrics(family, objective, theta), **scale_metrics(family, theta, sigma_star)}


def elbo_metrics(family: Any, objective: Any, theta: Tensor) -> dict[str, Any]:
    """``final_elbo`` (exact, the mean over the live replicates), the best mean-field
    ``optimal_elbo``, their gap, and ``log_evidence`` where the model has it."""
    if not family.elbo(objective):
        return {}
    values = family.objective_values(objective, theta.double())
    final = None if values is None or values.numel() == 0 else finite_or_none(-values.mean())
    optimal = objective.optimal_elbo()
    return {
        "final_elbo": final,
        "optimal_elbo": optimal,
        "elbo_gap": None if final is None or optimal is None else optimal - final,
        "log_evidence": objective.log_evidence(),
    }


def scale_metrics(family: Any, theta: Tensor, sigma_star: float | Tensor | None) -> dict[str, Any]:
    """A learned σ at the end, over the live replicates and coordinates: its mean, 5% and 95%
    quantiles and RMS error against σ* (where σ* exists), beside σ* (a list where it is a vector)."""
    if not family.learned:
        return {}
    star = sigma_star.tolist() if isinstance(sigma_star, Tensor) else sigma_star
    sigma = family.sigma_of(theta)
    keys = ("final_sigma_mean", "final_sigma_q05", "final_sigma_q95")
    if sigma.numel() == 0:
        return {"sigma_star": star, **dict.fromkeys(keys)}
    q05, q95 = quantiles(sigma.flatten())
    stats = {"sigma_star": star, **dict(zip(keys, map(finite_or_none, (sigma.mean(), q05, q95))))}
    if sigma_star is not None:
        stats["final_sigma_rms_error"] = finite_or_none((sigma - sigma_star).square().mean().sqrt())
    return stats
