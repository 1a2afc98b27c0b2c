"""The relaxed estimators by quadrature over the logistic noise (``bernoulli_table``): their means and
variances against REFERENCE's closed forms and printed values, and where each stalls."""

from __future__ import annotations

import math

import pytest
import torch

from reparam_opt.objectives import Target
from tests.bernoulli_cases import (
    DTYPE,
    half_unit,
)

#: The quadrature's own error (bernoulli_table.expected_relaxed and the bisection in ``stall``):
#: under 1e−11 in θ against scipy's adaptive quadrature split at the jump, at every point below.
QUADRATURE_ERROR = 1e-9


@pytest.mark.parametrize(
    ("name", "t", "tau", "printed"),
    [
        ("concrete", 0.45, 0.5, "-0.596"),
        ("concrete", 0.45, 1.0, "-0.502"),
        ("concrete", 0.45, 2.0, "-0.590"),
        ("straight_through", 0.45, 0.1, "-1.852"),
        ("straight_through", 0.45, 0.5, "-0.381"),
        ("straight_through", 0.45, 1.0, "-0.268"),
        ("straight_through", 0.45, 2.0, "-0.223"),
        ("concrete", 0.499, 0.5, "-0.0118"),
        ("straight_through", 0.499, 0.5, "-0.0075"),
    ],
)
def test_stall_points_by_quadrature_are_the_references(name: str, t: float, tau: float, printed: str) -> None:
    """REFERENCE: where each relaxed estimator's expected gradient is zero, to the digits it prints.
    Straight-through's term jumps where b does; a quadrature not split there was off by up to
    9e−3 (−1.861 at τ = 0.1, −0.382 at ½, −0.269 at 1; −0.0055 at t = 0.499, τ = ½)."""
    from reparam_opt.bernoulli_table import stall

    assert stall(name, t, tau) == pytest.approx(float(printed), abs=half_unit(printed) + QUADRATURE_ERROR)


def test_concrete_at_tau_one_tenth_does_not_stall() -> None:
    """REFERENCE: Concrete has no stall at τ = 0.1, t = 0.45 (it drifts the right way, slowly): its
    expected gradient is positive all over [−6, 0], not only at the ends that ``stall`` compares."""
    from reparam_opt.bernoulli_table import expected_relaxed, stall

    assert stall("concrete", 0.45, 0.1) is None
    assert all(expected_relaxed("concrete", theta / 4, 0.45, 0.1)[0] > 0 for theta in range(-24, 1))


def test_quadrature_meets_the_closed_forms() -> None:
    """Concrete's mean (1 − 2t)m(τ)/τ and variance at τ = 1; straight-through's variance at τ = 1."""
    from reparam_opt.bernoulli_table import expected_relaxed

    t = 0.45
    assert expected_relaxed("concrete", 0.0, t, 1.0)[0] == pytest.approx((1 - 2 * t) / 6, rel=1e-9)
    assert expected_relaxed("concrete", 0.0, t, 0.5)[0] == pytest.approx(
        (1 - 2 * t) * (1 - math.pi / 4), rel=1e-9
    )
    assert expected_relaxed("concrete", 0.0, t, 2.0)[0] == pytest.approx(
        (1 - 2 * t) * (1 - math.pi / 4) / 2, rel=1e-9
    )
    assert expected_relaxed("concrete", 0.0, t, 1.0)[1] == pytest.approx(
        (28 * t**2 - 28 * t + 13) / 1260, rel=1e-9
    )
    assert expected_relaxed("straight_through", 0.0, t, 1.0)[1] == pytest.approx(
        (4 * t**2 - 4 * t + 7) / 180, rel=1e-9
    )
    assert expected_relaxed("concrete", 0.0, 0.1, 0.1)[0] == pytest.approx(0.8 * 0.992 / 4, rel=2e-3)


@pytest.mark.parametrize(
    ("tau", "factor", "concrete", "straight_through"),
    [
        (0.1, "0.992", "0.0861936", "0.418872"),
        (0.5, "0.858", "0.0142445", "0.0779337"),
        (1.0, "0.667", "0.00481746", "0.0333889"),
        (2.0, "0.429", "0.00103712", "0.0119885"),
    ],
)
def test_quadrature_at_theta_zero_is_the_references(
    tau: float, factor: str, concrete: str, straight_through: str
) -> None:
    """REFERENCE, t = 0.45, θ = 0, to the digits it prints: the bias factor 4m(τ)/τ, which both
    relaxed estimators share, and each one's variance."""
    from reparam_opt.bernoulli_table import expected_relaxed

    t = 0.45
    exact = float(Target(t).grad(torch.zeros(1, dtype=DTYPE)))
    c_mean, c_var = expected_relaxed("concrete", 0.0, t, tau)
    s_mean, s_var = expected_relaxed("straight_through", 0.0, t, tau)
    assert c_mean / exact == pytest.approx(float(factor), abs=half_unit(factor))
    assert s_mean == pytest.approx(c_mean, rel=1e-9)
    assert c_var == pytest.approx(float(concrete), abs=half_unit(concrete))
    assert s_var == pytest.approx(float(straight_through), abs=half_unit(straight_through))
