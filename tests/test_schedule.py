"""The learning rate's schedule: ``lr_schedule=quarter_cosine`` multiplies the rate by
cos(π/2 · t/T) at step t of T (mc_gradients' decay), checked against the update it implies."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from reparam_opt.training import train
from reparam_opt.training.schedule import quarter_cosine
from reparam_opt.training.validation import ConfigError, check_train_config


def test_the_multiplier_falls_from_one_to_zero_as_a_quarter_cosine() -> None:
    multiplier = quarter_cosine(100)
    assert multiplier(0) == 1.0
    assert multiplier(50) == pytest.approx(math.sqrt(0.5), rel=1e-15)
    assert multiplier(100) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("schedule", ["constant", "quarter_cosine"])
def test_exact_sgd_on_the_square_takes_the_scheduled_steps(make_cfg, tmp_path: Path, schedule: str) -> None:
    # f = x², ∇J = 2μ: plain SGD gives μ_{t+1} = (1 − 2·lr_t)μ_t, so the end point is the product.
    steps, lr, theta0 = 20, 0.1, 2.0
    cfg = make_cfg(
        "estimator=exact",
        f"lr={lr}",
        f"steps={steps}",
        f"theta0={theta0}",
        "replicates=1",
        f"lr_schedule={schedule}",
    )
    summary = train(cfg, tmp_path)
    rates = [lr * (quarter_cosine(steps)(t) if schedule == "quarter_cosine" else 1.0) for t in range(steps)]
    expected = theta0 * math.prod(1 - 2 * rate for rate in rates)
    assert summary["final_rms_error"] == pytest.approx(abs(expected), rel=1e-5)


def test_an_unknown_schedule_is_one_line(make_cfg) -> None:
    with pytest.raises(
        ConfigError, match=r"^bad value lr_schedule=cosine: must be one of constant, quarter_cosine$"
    ):
        check_train_config(make_cfg("lr_schedule=cosine"))
