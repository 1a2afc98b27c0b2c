"""Measured against closed-form per-sample variances for every estimator × objective pair at one θ.

``python -m reparam_opt.pair_table --theta 1`` prints a Markdown table. The measured figure is
n × the variance of the n-sample estimate across replicates (for independent terms that is the
variance of one term; for the leave-one-out baseline it includes the terms' covariance), with
its standard error from the sample's fourth central moment.
"""

from __future__ import annotations

import argparse
import math
import sys

import torch

from reparam_opt.estimators import ESTIMATORS as REGISTRY
from reparam_opt.families.gaussian import GaussianFamily, at_point
from reparam_opt.objectives import Cosine, GaussianBump, Objective, ShiftedSquare, Square
from reparam_opt.training.cli import LineParser

#: Every estimator of ∇E_q[f] in the registry but ``exact``, whose variance is zero by construction
#: (``trace_elbo`` and ``stl`` estimate the whole J_λ, the entropy's gradient included).
ESTIMATORS = tuple(
    name
    for name, e in REGISTRY.items()
    if name != "exact" and e.applies_to(GaussianFamily.name) and not e.includes_entropy
)


def objectives() -> dict[str, Objective]:
    """Each objective at its config default k = 1, and cosine also at k = 3."""
    return {
        "square": Square(),
        "shifted_square(k=1)": ShiftedSquare(1.0),
        "gaussian_bump(k=1)": GaussianBump(1.0),
        "cosine(k=1)": Cosine(1.0),
        "cosine(k=3)": Cosine(3.0),
    }


def measure(
    estimator: str, objective: Objective, theta: float, sigma: float, n: int, replicates: int
) -> tuple[float, float]:
    """n·Var of the n-sample estimate over ``replicates`` draws, and its standard error."""
    q = at_point(replicates, 1, theta, sigma, dtype=torch.float64)
    estimate = REGISTRY[estimator](objective, q, n).mean(-2)[:, 0]
    centred = estimate - estimate.mean()
    var, m4 = float(centred.square().mean()), float(centred.pow(4).mean())
    return n * var * replicates / (replicates - 1), n * math.sqrt(max(m4 - var**2, 0.0) / replicates)


def table(theta: float, sigma: float, n: int, replicates: int, seed: int) -> str:
    torch.manual_seed(seed)
    lines = [
        f"θ = {theta:g}, σ = {sigma:g}, n = {n}, {replicates} replicates; measured ± one standard error",
        "",
        "| objective | estimator | measured | closed form | (measured − closed form)/SE |",
        "|---|---|---|---|---|",
    ]
    for name, objective in objectives().items():
        for estimator in ESTIMATORS:
            measured, se = measure(estimator, objective, theta, sigma, n, replicates)
            at = torch.full((1,), theta, dtype=torch.float64)
            exact = REGISTRY[estimator].closed_form_variance(objective, at, sigma, n_samples=n)
            if exact is None:
                closed, z = "none", "–"
            else:
                closed = f"{float(exact):.4g}"
                # A closed form of 0 (measure-valued at a square's optimum) leaves only float64 rounding.
                z = f"{(measured - float(exact)) / se:+.2f}" if float(exact) > 0 else "– (closed form 0)"
            lines.append(f"| {name} | {estimator} | {measured:.4g} ± {se:.2g} | {closed} | {z} |")
    return "\n".join(lines)


def main() -> None:
    parser = LineParser(prog="python -m reparam_opt.pair_table", description=__doc__.splitlines()[0])
    parser.add_argument("--theta", type=float, default=1.0)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument(
        "--n-samples",
        type=int,
        default=10,
        help="samples per estimate (the leave-one-out figure depends on it)",
    )
    parser.add_argument("--replicates", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    problem = bad_argument(args)
    if problem:
        sys.exit(problem)
    print(table(args.theta, args.sigma, args.n_samples, args.replicates, args.seed))


def bad_argument(args: argparse.Namespace) -> str | None:
    """The one line for the first argument outside what is allowed, or None."""
    if not math.isfinite(args.theta):
        return f"bad value --theta={args.theta}: must be a finite number"
    if not (math.isfinite(args.sigma) and args.sigma > 0):
        return f"bad value --sigma={args.sigma}: must be a finite number > 0"
    if args.n_samples < 2:
        return f"bad value --n-samples={args.n_samples}: must be an integer >= 2 (the leave-one-out baseline)"
    if args.replicates < 2:
        return f"bad value --replicates={args.replicates}: must be an integer >= 2"
    return None


if __name__ == "__main__":
    main()
