"""The variance study's numbers: many independent n-sample estimates per point, and their variance.

In D dimensions (``dim``) every coordinate of μ sits at θ and the figure is the variance per
coordinate: the trace of the estimate's covariance over D, pooled over the coordinates.

Repetitions are a batch dimension of the estimator (one replicate per repetition), drawn in
chunks of about ``chunk_elements`` per-sample terms, in float32 unless ``dtype`` says float64.
Every (estimator, point) pair gets its own seed, and a chunk draws the next rows of the same
random stream, so on the CPU the estimates are the same whatever the chunk size, and dropping
an estimator leaves the others unchanged. (Not ``measure_valued`` in D > 1: it draws two blocks
per chunk, its Weibull draws and the other coordinates, so its stream interleaves by chunk.)
"""

from __future__ import annotations

import math
import zlib
from statistics import NormalDist
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from reparam_opt.estimators import Estimator
from reparam_opt.estimators.reduction import NoControl
from reparam_opt.families.draws import IID
from reparam_opt.families.gaussian import GaussianFamily
from reparam_opt.training.chunks import chunk_bounds
from reparam_opt.training.config import estimator_of
from reparam_opt.training.known_keys import first_unknown_key
from reparam_opt.training.validation import check_objective
from reparam_opt.variance.points import Point, check_q, point_at
from reparam_opt.variance.tricks import trick_of, tricks, warmup_of

#: Sweep parameters whose values must be whole numbers >= 1.
WHOLE_KEYS = ("n_samples", "dim")

#: The ``dtype`` key's allowed values.
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def check(cfg: DictConfig) -> None:
    """Reject bad input with one line naming the key and what is allowed, before any work."""
    unknown = first_unknown_key(cfg)  # a key added with +, which nothing would read
    if unknown is not None:
        raise ValueError(unknown)
    if not cfg.estimators:
        raise ValueError("no estimators to compare; add one with +estimator@estimators.<name>=<name>")
    for key, node in cfg.estimators.items():
        try:
            estimator = estimator_of(node)
        except ValueError as error:
            raise ValueError(f"estimators.{key}: {error}") from None
        if not estimator.applies_to(GaussianFamily.name):
            raise ValueError(
                f"bad value estimators.{key}={estimator.name}: the study is of the Gaussian family"
            )
    objective = check_objective(cfg.objective)  # its own parameters, say k > 0 for cosine: one line
    if not GaussianFamily().takes(objective):
        raise ValueError(f"bad value objective={objective.name}: the study is of the Gaussian family")
    if cfg.repetitions < 5:
        raise ValueError(f"repetitions={cfg.repetitions} is too few; the interval needs at least 5")
    if not 0 < cfg.confidence < 1:
        raise ValueError(f"confidence={cfg.confidence} must lie strictly between 0 and 1")
    if not math.isfinite(cfg.theta):
        raise ValueError(f"bad value theta={cfg.theta}: must be a finite number")
    if not (math.isfinite(cfg.sigma) and cfg.sigma > 0):
        raise ValueError(f"bad value sigma={cfg.sigma}: must be a finite number > 0")
    if cfg.n_samples < 1:
        raise ValueError(f"bad value n_samples={cfg.n_samples}: must be an integer >= 1")
    if cfg.chunk_elements < 1:
        raise ValueError(
            f"bad value chunk_elements={cfg.chunk_elements}: must be an integer >= 1 (terms held at once)"
        )
    bad = [v for v in cfg.sweep.points if not math.isfinite(v)]
    if bad:
        raise ValueError(f"bad value sweep.points={bad}: must be finite numbers")
    if cfg.sweep.parameter == "sigma" and any(v <= 0 for v in cfg.sweep.points):
        bad = [v for v in cfg.sweep.points if v <= 0]
        raise ValueError(f"bad value sweep.points={bad}: sweep.parameter=sigma must be > 0")
    if cfg.dtype not in DTYPES:
        raise ValueError(f"dtype={cfg.dtype} is not allowed; use one of {', '.join(DTYPES)}")
    if not cfg.sweep.points:
        raise ValueError("sweep.points is empty; give at least one value")
    if cfg.dim < 1:
        raise ValueError(f"dim={cfg.dim} must be a whole number ≥ 1")
    if cfg.sweep.parameter in WHOLE_KEYS:
        bad = [v for v in cfg.sweep.points if v < 1 or v != int(v)]
        if bad:
            raise ValueError(
                f"sweep.points={bad} are not allowed; {cfg.sweep.parameter} must be whole numbers ≥ 1"
            )
    for dim in cfg.sweep.points if cfg.sweep.parameter == "dim" else [cfg.dim]:
        objective.check_dim(int(dim))  # say, the correlated quadratic's ρ against D
    if not (math.isfinite(cfg.entropy_weight) and cfg.entropy_weight >= 0):
        raise ValueError(f"bad value entropy_weight={cfg.entropy_weight}: must be a finite number >= 0")
    check_q(cfg, objective)
    if cfg.sweep.parameter == "n_samples":
        for n in cfg.sweep.points:
            tricks(cfg, int(n), "sweep.points")
    else:
        tricks(cfg, int(cfg.n_samples))


def estimates(
    estimator: Estimator,
    point: Point,
    repetitions: int,
    chunk_elements: int,
    device: str,
    dtype: torch.dtype,
    options: dict[str, Any] | None = None,
    warmup: int = 0,
) -> torch.Tensor:
    """``repetitions`` independent n-sample estimates of ∇_μ (and ∇_s where the scale is learned),
    [repetitions, P], about ``chunk_elements`` terms at a time (a measure-valued term costs D of
    them: it moves one coordinate at a time).

    Each estimate is a mean of n terms drawn and computed in ``dtype``, and returned in float64.
    ``warmup`` calls at the point come first in each chunk, for a control variate with state.
    """
    n, dim = int(point.n_samples), point.dim
    per_term = dim if estimator.per_coordinate else 1
    bounds = chunk_bounds(repetitions, n * dim, max(1, chunk_elements // per_term))
    # One block for all the means: a small block per chunk, still alive when the next chunk's
    # temporaries are allocated, would split the freed heap so that it grows with every chunk.
    params = dim * (2 if point.learned == "diagonal" else 1)
    means = torch.empty(repetitions, params, dtype=dtype, device=device)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        q = point.q(stop - start, dtype=dtype, device=device)
        state: dict = {}
        for _ in range(warmup):
            with point.objective.one_batch():
                estimator(point.objective, q, n, state=state, **(options or {}))
        with point.objective.one_batch():  # a model's minibatch: one per chunk, as per step in a run
            terms = estimator(point.objective, q, n, state=state, **(options or {}))
            means[start:stop] = terms.mean(-2).detach()
    return means.cpu().double()


def options_of(node: DictConfig) -> dict[str, Any]:
    """An estimator config's options (say, stl's ``entropy_weight``), resolved: its keys less
    ``_target_`` and ``_partial_``."""
    return {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if not k.startswith("_")}


def variance_interval(x: np.ndarray, confidence: float) -> tuple[float, float]:
    """Bonett's (2006) interval for a variance, which corrects for the sample's kurtosis.

    The chi-square interval assumes Gaussian data and is far too narrow for heavy tails such
    as the score function's at small n. Bonett's uses ln(s²) with a standard error from a
    trimmed-mean kurtosis estimate; it keeps close to its nominal coverage for non-normal data.
    """
    size = len(x)
    variance = float(np.var(x, ddof=1))
    if variance == 0.0:
        return 0.0, 0.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    cut = int(size / (2 * math.sqrt(size - 4)))  # Bonett's trim proportion 1/(2√(n−4)) from each end
    trimmed_mean = float(np.sort(x)[cut : size - cut].mean())
    kurtosis = size * float(np.sum((x - trimmed_mean) ** 4)) / float(np.sum((x - x.mean()) ** 2)) ** 2
    c = size / (size - z)
    se = c * math.sqrt(max(kurtosis - (size - 3) / size, 0.0) / (size - 1))
    centre = math.log(c * variance)
    return math.exp(centre - z * se), math.exp(centre + z * se)


def pooled_interval(x: np.ndarray, confidence: float) -> tuple[float, float]:
    """A normal interval for the per-coordinate variance of D-dimensional estimates [repetitions, D].

    The pooled variance is the mean over repetitions of u_r = ‖x_r − x̄‖²/D · R/(R − 1), so its
    standard error is that of a mean: std(u)/√R. The coordinates of one repetition are not
    independent (the score function's share f(x)), which pooling per repetition respects.
    """
    size = len(x)
    u = np.square(x - x.mean(0)).mean(1) * size / (size - 1)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    half = z * float(u.std(ddof=1)) / math.sqrt(size)
    return max(float(u.mean()) - half, 0.0), float(u.mean()) + half


def closed_form(estimator: Estimator, point: Point) -> float | None:
    """The closed-form variance of the n-sample estimate, per coordinate, or None without one."""
    mu, sigma = point.mu_sigma()
    per_sample = estimator.closed_form_variance(point.objective, mu, sigma, n_samples=int(point.n_samples))
    if per_sample is None:
        return None
    per_sample = float(per_sample) if point.dim == 1 else float(per_sample) / point.dim
    return per_sample / point.n_samples


def scale_closed_form(estimator: Estimator, point: Point) -> float | None:
    """The log-scale gradient's closed-form variance of the n-sample estimate, per coordinate."""
    mu, sigma = point.mu_sigma()
    per_sample = estimator.closed_form_scale_variance(point.objective, mu, sigma, point.learned)
    return None if per_sample is None else float(per_sample) / point.dim / point.n_samples


def study(cfg: DictConfig) -> list[dict[str, Any]]:
    """One row per (point, estimator): the measured variance, its interval and its closed form."""
    check(cfg)
    estimators = tricks(cfg, int(cfg.n_samples))
    draws, control = trick_of(cfg)
    rows: list[dict[str, Any]] = []
    for index, value in enumerate(cfg.sweep.points):
        point = point_at(cfg, cfg.sweep.parameter, value)
        at_point = [measure(key, fn, point, index, value, cfg) for key, fn in estimators.items()]
        if draws.name != IID.name or control.name != NoControl.name:  # columns only where a trick is on
            for row in at_point:
                row["draws"], row["control_variate"] = draws.name, control.name
        pathwise = next((r for r in at_point if r["estimator"] == "pathwise"), None)
        # No ratio to a variance at rounding level (an exact gradient: antithetic pathwise on x²).
        reference = pathwise and pathwise["variance"] > 1e-12 * pathwise["mean"] ** 2 and pathwise["variance"]
        for row in at_point:
            row["vs_pathwise"] = row["variance"] / reference if reference else None
        rows.extend(at_point)
    return rows


def measure(
    key: str, estimator: Estimator, point: Point, index: int, value: float, cfg: DictConfig
) -> dict[str, Any]:
    """Draw one point's estimates for one estimator and summarise them."""
    torch.manual_seed(zlib.crc32(f"{cfg.seed}/{key}/{index}".encode()))
    dtype = DTYPES[cfg.dtype]
    options = options_of(cfg.estimators[key])
    x = estimates(
        estimator, point, cfg.repetitions, cfg.chunk_elements, cfg.device, dtype, options, warmup_of(cfg)
    ).numpy()
    x, scale_rows = x[:, : point.dim], x[:, point.dim :]
    if point.dim == 1:
        x = x[:, 0]
        variance = float(np.var(x, ddof=1))
        low, high = variance_interval(x, cfg.confidence)
    else:
        variance = float(np.var(x, axis=0, ddof=1).mean())
        low, high = pooled_interval(x, cfg.confidence)
    expected = closed_form(estimator, point)
    # The mean over coordinates, as "mean" is (on a symmetric cost at θ, every coordinate's own).
    exact = point.objective.gradient(*point.mu_sigma())
    exact = None if exact is None else exact.mean()
    n = point.n_samples
    row = {
        "dim": point.dim,
        "estimator": key,
        "parameter": cfg.sweep.parameter,
        "value": value,
        "theta": point.theta,
        "sigma": point.sigma,
        "n_samples": int(n),
        "mean": float(x.mean()),
        "exact_gradient": None if exact is None else float(exact),
        "variance": variance,
        "ci_low": low,
        "ci_high": high,
        "closed_form": expected,
        "ratio": variance / expected if expected else None,
        "per_sample_variance": variance * n,
        "per_sample_closed_form": None if expected is None else expected * n,
    }
    return (
        row
        if scale_rows.shape[1] == 0
        else {**row, **scale_row(estimator, point, scale_rows, cfg.confidence)}
    )


def scale_row(estimator: Estimator, point: Point, x: np.ndarray, confidence: float) -> dict[str, Any]:
    """The log-scale gradient's measured variance per coordinate, with its pooled interval, beside
    its closed form."""
    variance = float(np.var(x, axis=0, ddof=1).mean())
    low, high = pooled_interval(x, confidence)
    expected = scale_closed_form(estimator, point)
    return {
        "scale_variance": variance,
        "scale_ci_low": low,
        "scale_ci_high": high,
        "scale_closed_form": expected,
        "scale_ratio": variance / expected if expected else None,
    }


def closed_form_curve(cfg: DictConfig, key: str, grid: np.ndarray) -> np.ndarray | None:
    """The closed form along the sweep, on a fine grid of the swept parameter, for the figure; None
    where there is none at the grid's first point (a model's best q is not refitted 200 times for
    a curve that does not exist)."""
    n = int(cfg.sweep.points[0]) if cfg.sweep.parameter == "n_samples" else int(cfg.n_samples)
    estimator = tricks(cfg, n)[key]
    if closed_form(estimator, point_at(cfg, cfg.sweep.parameter, float(grid[0]))) is None:
        return None
    points = [point_at(cfg, cfg.sweep.parameter, float(v)) for v in grid]
    values = [closed_form(estimator, point) for point in points]
    if any(v is None for v in values):
        return None
    scale = np.array([p.n_samples for p in points]) if cfg.sweep.per_sample else 1.0
    return np.asarray(values) * scale
