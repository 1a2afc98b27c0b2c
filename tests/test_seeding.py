"""How ``seed`` maps to the replicates' noise, and run directories that never collide."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reparam_opt.training import train
from reparam_opt.training.config import claim_fresh_dir
from tests.conftest import scalars


def test_seed_is_one_stream_drawn_a_replicates_by_n_block_per_step(make_cfg, tmp_path: Path) -> None:
    """docs/reference.md, "Reproducibility": step t uses the t-th ``randn(replicates, n_samples)``."""
    replicates, n, seed, lr, theta0, sigma = 8, 3, 5, 0.1, 2.0, 0.5
    cfg = make_cfg(
        "estimator=pathwise",
        f"seed={seed}",
        f"replicates={replicates}",
        f"n_samples={n}",
        "steps=3",
        f"lr={lr}",
        f"theta0={theta0}",
        f"sigma={sigma}",
    )
    train(cfg, tmp_path)
    torch.manual_seed(seed)
    theta, expected = torch.full((replicates,), theta0), [theta0]
    for _ in range(3):
        x = theta.unsqueeze(-1) + sigma * torch.randn(replicates, n)
        theta = theta - lr * (2 * x).mean(-1)  # pathwise on x²: the per-sample term is f'(x) = 2x
        expected.append(float(theta[0]))
    logged = [v for _, v in scalars(tmp_path)["theta/replicate0"]]
    assert logged == pytest.approx(expected, rel=1e-6)


def test_claim_fresh_dir_never_hands_out_a_directory_twice(tmp_path: Path) -> None:
    path = str(tmp_path / "runs" / "12-00-00")
    claimed = [claim_fresh_dir(path) for _ in range(3)]
    assert claimed == [path, f"{path}_2", f"{path}_3"]
    assert all(Path(p).is_dir() for p in claimed)
