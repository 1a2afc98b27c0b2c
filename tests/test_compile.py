"""``compile=true``: the step through torch.compile, with the eager path's draws (issue 14, part 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reparam_opt.training import train
from tests.conftest import scalars


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        ["estimator=pathwise", "replicates=64", "n_samples=100", "steps=30"],
        ["estimator=score", "replicates=64", "n_samples=100", "steps=30", "scale=shared", "dim=2"],
        ["family=bernoulli", "estimator=concrete", "replicates=64", "n_samples=10", "steps=30"],
    ],
)
def test_a_compiled_step_follows_the_eager_one_to_rounding(overrides, make_cfg, tmp_path: Path) -> None:
    """Same seed, same draws (inductor's fallback_random); fused arithmetic may round the last bit."""
    runs = {}
    for compiled in ("false", "true"):
        train(make_cfg(*overrides, f"compile={compiled}"), tmp_path / compiled)
        runs[compiled] = scalars(tmp_path / compiled)
    for tag in ("theta/mean", "grad/mean", "grad/variance"):
        eager, fused = runs["false"][tag], runs["true"][tag]
        assert [s for s, _ in eager] == [s for s, _ in fused]
        for (_, a), (_, b) in zip(eager, fused):
            assert b == pytest.approx(a, rel=1e-4, abs=1e-6), tag
