"""The Bernoulli-family test cases: draws at a fixed logit, and the exact moments by enumeration."""

from __future__ import annotations

import itertools
import math

import torch

from reparam_opt.estimators import ESTIMATORS
from reparam_opt.families.bernoulli import BernoulliQ
from reparam_opt.objectives import Target

Z = 4.0
DTYPE = torch.float64


def logits(theta: float, replicates: int) -> BernoulliQ:
    return BernoulliQ(torch.full((replicates, 1), theta, dtype=DTYPE))


def estimates(
    name: str, theta: float, t: float, replicates: int, n: int = 1, seed: int = 0, **options
) -> torch.Tensor:
    torch.manual_seed(seed)
    terms = ESTIMATORS[name].terms["bernoulli"](Target(t), logits(theta, replicates), n, **options)
    assert terms.shape == (replicates, n, 1)
    return terms.mean(-2)[:, 0]


def enumerated(theta: float, t: float, n: int, estimate) -> tuple[float, float, float]:
    """Mean, variance and fourth central moment of ``estimate(bs)`` over all 2ⁿ outcomes of n draws."""
    p = 1 / (1 + math.exp(-theta))
    outcomes = list(itertools.product((0.0, 1.0), repeat=n))
    weights = [math.prod(p if b else 1 - p for b in bs) for bs in outcomes]
    values = [estimate(bs, p) for bs in outcomes]
    mean = sum(w * v for w, v in zip(weights, values))
    var = sum(w * (v - mean) ** 2 for w, v in zip(weights, values))
    m4 = sum(w * (v - mean) ** 4 for w, v in zip(weights, values))
    return mean, var, m4


def variance_se(var: float, m4: float, size: int) -> float:
    """The standard error of the unbiased sample variance of R values: √((μ₄ − σ⁴(R − 3)/(R − 1))/R)."""
    return math.sqrt((m4 - var**2 * (size - 3) / (size - 1)) / size)


def reinforce(t: float):
    return lambda bs, p: sum((b - t) ** 2 * (b - p) for b in bs) / len(bs)


def leave_one_out(t: float):
    def estimate(bs, p):
        n = len(bs)
        f = [(b - t) ** 2 for b in bs]
        return sum((f[i] - (sum(f) - f[i]) / (n - 1)) * (bs[i] - p) for i in range(n)) / n

    return estimate


def half_unit(printed: str) -> float:
    """Half a unit in the last digit of a number as REFERENCE prints it: the most a correctly rounded
    value can be off by ("−1.852" → 5e−4, "0.0075" → 5e−5)."""
    decimals = len(printed.partition(".")[2])
    return 0.5 * 10.0**-decimals
