"""B1 and B2: the real training loop (``training.train``, as ``train.py`` runs it) against bare torch.

``benchmarks.run`` sets the process up as ``train.py`` does (threads, heap) before these run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from benchmarks.timing import Comparison
from reparam_opt.training import train
from reparam_opt.training.config import register_configs

CONF = Path(__file__).resolve().parents[1] / "conf"


def compose_config(*overrides: str) -> DictConfig:
    """The job config exactly as ``python train.py OVERRIDES`` composes it."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def real_run(cfg: DictConfig) -> None:
    """One whole ``train`` call (setup, loop, TensorBoard, summary.json) into a throw-away directory."""
    with tempfile.TemporaryDirectory() as run_dir:
        train(cfg, Path(run_dir))


def large_batch(
    estimator: str, repeats: int, replicates: int = 1000, n_samples: int = 1000, steps: int = 200
) -> Comparison:
    """B1: samples per second of the real loop over ``torch.randn`` of the same shape, as often.

    The loop draws [replicates, n_samples] normals at each of its steps + 1 gradient evaluations
    (the last one feeds the final step's statistics), so the baseline draws that many too.
    """
    cfg = compose_config(
        f"estimator={estimator}", f"replicates={replicates}", f"n_samples={n_samples}", f"steps={steps}"
    )

    def draws() -> None:
        for _ in range(steps + 1):
            torch.randn(replicates, n_samples)

    return Comparison.run(f"B1 {estimator}", lambda: real_run(cfg), draws, repeats)


def minimal_loop(steps: int) -> None:
    """The least a training loop can do: randn, surrogate, backward, SGD step; no logging."""
    theta = torch.full((1,), 3.0, requires_grad=True)
    optimizer = torch.optim.SGD([theta], lr=0.1)
    for _ in range(steps):
        x = theta + torch.randn(1, 1)
        optimizer.zero_grad()
        x.square().sum().backward()
        optimizer.step()


def small_step(repeats: int, steps: int = 5000) -> Comparison:
    """B2: µs per step of the real loop (replicates = n_samples = 1, default cadence) vs ``minimal_loop``."""
    cfg = compose_config("replicates=1", "n_samples=1", f"steps={steps}")
    return Comparison.run("B2 small step", lambda: real_run(cfg), lambda: minimal_loop(steps), repeats)
