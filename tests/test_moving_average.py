"""The moving-average baseline (``reparam_opt/estimators/moving_average.py``): its state from none,
what a frozen state leaves, the estimators it refuses; and the f-evaluations every control variate
counts (``Estimator.f_evals_per_step``)."""

from __future__ import annotations

import pytest
import torch

from reparam_opt.estimators import measure_valued, pathwise, score, score_baseline
from reparam_opt.estimators.delta_method import Delta
from reparam_opt.estimators.moving_average import MovingAverage
from reparam_opt.estimators.reduction import NoControl, reduced
from reparam_opt.families.draws import IID, Antithetic
from reparam_opt.families.gaussian import at_point
from reparam_opt.objectives import Square

F64 = {"dtype": torch.float64}
MU, SIGMA = 1.3, 0.8


# ------------------------------------------------------------------------------------------------
# The moving average's state


class Recording:
    """A cost that keeps every x it is called at."""

    def __init__(self, cost) -> None:
        self.cost, self.calls = cost, []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.detach().clone())
        return self.cost(x)


def test_moving_average_state_from_none_and_frozen() -> None:
    decay, n, replicates = 0.9, 8, 6
    trick = reduced(score, IID(), MovingAverage(decay), "gaussian", n)
    q = at_point(replicates, 1, MU, SIGMA, **F64)
    cost, state = Recording(Square()), {}
    assert state.get("moving_average") is None
    torch.manual_seed(7)
    terms = trick(cost, q, n, state=state)
    x = cost.calls[-1]  # [R, n, 1]
    f = Square()(x)
    assert float(state["logged"]["estimator/baseline"]) == 0.0  # the c this step used
    assert torch.allclose(state["moving_average"], (1 - decay) * f.mean(-1, keepdim=True), rtol=1e-14)
    assert torch.allclose(terms, (f.unsqueeze(-1)) * (x - MU) / SIGMA**2, rtol=1e-12)  # c = 0: plain score
    # A second step uses the stored c, then moves it.
    used = state["moving_average"].clone()
    terms = trick(cost, q, n, state=state)
    x, f = cost.calls[-1], Square()(cost.calls[-1])
    assert torch.allclose(terms, (f - used).unsqueeze(-1) * (x - MU) / SIGMA**2, rtol=1e-12)
    assert float(state["logged"]["estimator/baseline"]) == pytest.approx(float(used.mean()))
    assert torch.allclose(state["moving_average"], decay * used + (1 - decay) * f.mean(-1, keepdim=True))
    # Frozen, it still subtracts c but leaves the state as it was.
    state["frozen"] = True
    before, logged = state["moving_average"].clone(), float(state["logged"]["estimator/baseline"])
    terms = trick(cost, q, n, state=state)
    x, f = cost.calls[-1], Square()(cost.calls[-1])
    assert torch.equal(state["moving_average"], before)
    assert float(state["logged"]["estimator/baseline"]) == logged
    assert torch.allclose(terms, (f - before).unsqueeze(-1) * (x - MU) / SIGMA**2, rtol=1e-12)


@pytest.mark.parametrize("estimator", [pathwise, score_baseline, measure_valued])
def test_moving_average_refuses_terms_a_constant_does_not_move(estimator) -> None:
    with pytest.raises(ValueError) as error:
        reduced(estimator, IID(), MovingAverage(), "gaussian", 8)
    assert str(error.value) == (
        f"bad value control_variate=moving_average: estimator={estimator.name}'s terms do not change "
        "when a constant is subtracted from f; it applies to estimator=score"
    )


# ------------------------------------------------------------------------------------------------
# f-evaluations


def test_f_evaluations_per_step_count_the_extra_draws_and_f_at_mu() -> None:
    assert (
        reduced(score, IID(), Delta(coefficient_samples=25), "gaussian", 8).f_evals_per_step(8) == 8 + 25 + 1
    )
    assert reduced(score, IID(), Delta(), "gaussian", 8).f_evals_per_step(8) == 8 + 1
    assert reduced(score, Antithetic(), NoControl(), "gaussian", 8).f_evals_per_step(8) == 8
    assert reduced(score, IID(), MovingAverage(), "gaussian", 8).f_evals_per_step(8) == 8
    # measure-valued: 2 per sample and coordinate, the extra draws included; f at μ once
    trick = reduced(measure_valued, IID(), Delta(coefficient_samples=25), "gaussian", 8)
    assert trick.f_evals_per_step(8, dim=3) == 2 * (8 + 25) * 3 + 1
