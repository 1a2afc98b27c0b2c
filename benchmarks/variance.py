"""B3: the variance study at 1000 repetitions against the seed notebook's own method; and its memory."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from benchmarks.memory import peak_rss_mib
from benchmarks.timing import Comparison
from reparam_opt.training.config import register_configs
from reparam_opt.variance.config import register_variance_configs
from reparam_opt.variance.study import study

CONF = Path(__file__).resolve().parents[1] / "conf"

#: The seed notebook's sample sizes, θ and σ (σ = 1 is implicit in its formulas).
SEED_NS = (10, 100, 1000, 10_000, 100_000)
THETA = 2.0


def seed_method(repetitions: int) -> tuple[np.ndarray, np.ndarray]:
    """The seed notebook's experiment as it wrote it: a Python loop over repetitions, numpy inside.

    Its two estimators: the score function np.sum(x²(x − θ))/N and pathwise np.sum(2(θ + ε))/N.
    Returns the variances over repetitions (score, pathwise) for each N.
    """
    variances = np.zeros((2, len(SEED_NS)))
    score, pathwise = np.zeros(repetitions), np.zeros(repetitions)
    for i, n in enumerate(SEED_NS):
        for r in range(repetitions):
            x = np.random.randn(n) + THETA
            score[r] = np.sum(np.square(x) * (x - THETA)) / x.size
            eps = np.random.randn(n)
            pathwise[r] = np.sum(2 * (THETA + eps)) / x.size
        variances[:, i] = np.var(score), np.var(pathwise)
    return variances[0], variances[1]


def study_config(*overrides: str) -> DictConfig:
    """``conf/variance.yaml`` as ``python -m reparam_opt.variance OVERRIDES`` composes it."""
    register_configs()
    register_variance_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="variance", overrides=list(overrides))


def ten_times_the_seed(repeats: int, repetitions: int = 1000) -> Comparison:
    """B3: ``study`` (estimates, variances, Bonett intervals, closed forms; no files) vs ``seed_method``."""
    cfg = study_config(f"repetitions={repetitions}")
    return Comparison.run("B3 variance study", lambda: study(cfg), lambda: seed_method(repetitions), repeats)


def large_study_peak_mib(n: int = 1_000_000, repetitions: int = 1000) -> float:
    """Peak RSS of the whole ``python -m reparam_opt.variance`` at one n, both estimators."""
    with tempfile.TemporaryDirectory() as run_dir:
        return peak_rss_mib(
            [
                sys.executable,
                "-m",
                "reparam_opt.variance",
                f"repetitions={repetitions}",
                f"sweep.points=[{n}]",
                f"hydra.run.dir={run_dir}",
            ],
            str(CONF.parent),
        )
