"""How ε are drawn (``reparam_opt/families/draws.py``): antithetic pairs against their closed forms,
scrambled Sobol' points against the rate their variance falls at, the in-step variance over the
draws' independent units, and the one-line refusals. Every tolerance is 4 standard errors taken
from the sample itself, with a fixed seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reparam_opt.estimators import pathwise, score, score_baseline
from reparam_opt.estimators.delta_method import Delta
from reparam_opt.estimators.reduction import NoControl, reduced
from reparam_opt.families.draws import IID, Antithetic, Sobol
from reparam_opt.families.gaussian import Gaussian, at_point
from reparam_opt.objectives import Cosine, Square

Z = 4.0
F64 = {"dtype": torch.float64}
MU, SIGMA = 1.3, 0.8


#: Sobol' draws build one engine per row: one thread (``conftest.one_thread``).
pytestmark = pytest.mark.usefixtures("one_thread")


def trace_variance(x: torch.Tensor) -> tuple[float, float]:
    """The sample variance of the estimates [R, P] summed over coordinates, and its standard error:
    the mean of u_r = ‖x_r − x̄‖²·R/(R − 1) over replicates, whose spread is the sample's own fourth
    moment less its variance squared (Var s² ≈ (m4 − s⁴)/R)."""
    replicates = x.shape[0]
    u = (x - x.mean(0)).square().sum(-1) * replicates / (replicates - 1)
    return float(u.mean()), float(u.std()) / math.sqrt(replicates)


def estimates(estimator, draws, cost, q: Gaussian, n: int) -> torch.Tensor:
    """R n-sample estimates [R, P] through the reduced estimator (its terms' mean over the samples)."""
    return reduced(estimator, draws, NoControl(), "gaussian", n)(cost, q.with_draws(draws), n).mean(-2)


# ------------------------------------------------------------------------------------------------
# Antithetic pairs against their closed forms


@pytest.mark.parametrize(
    ("estimator", "cost", "per_pair"),
    [
        (score, Square(), 8 * MU**2),  # 13.52, the REFERENCE's 8μ²: the pair's mean is 2με²
        (pathwise, Square(), 0.0),  # 2(μ ± σε) average to 2μ
        (pathwise, Cosine(k=1.5), 0.5653),  # k² sin²(kμ)[½(1 + e^{−2k²σ²}) − e^{−k²σ²}]
    ],
    ids=["score-square", "pathwise-square", "pathwise-cosine"],
)
def test_antithetic_variance_meets_its_closed_form_in_one_dimension(estimator, cost, per_pair) -> None:
    """n·Var of the n-sample estimate is 2·Var(one pair's mean), whatever n; measured from R = 20000
    estimates of n = 4 (two pairs each)."""
    n, replicates = 4, 20000
    trick = reduced(estimator, Antithetic(), NoControl(), "gaussian", n)
    closed = float(trick.closed_form_variance(cost, torch.tensor([MU], **F64), SIGMA, n))
    assert closed / 2 == pytest.approx(per_pair, rel=1e-4, abs=1e-15)
    torch.manual_seed(0)
    x = estimates(estimator, Antithetic(), cost, at_point(replicates, 1, MU, SIGMA, **F64), n)
    if per_pair == 0:  # every pair's mean is 2μ to rounding (measured: at most 4.4e-16 off)
        assert closed == 0.0
        assert float((x - 2 * MU).abs().max()) < 1e-13
        return
    variance, se = trace_variance(x)
    # Measured (seed 0), n·Var against the closed form: score 28.13 ± 0.57 against 27.04 (z = 1.9),
    # pathwise-cosine 1.159 ± 0.012 against 1.131 (z = 2.3); at R = 4·10⁵, seeds 0–2, every |z| < 1.9.
    assert abs(n * variance - closed) < Z * n * se, (n * variance, closed, n * se)


def test_antithetic_score_meets_its_closed_form_in_three_dimensions() -> None:
    """Score on ‖x‖² with σ different per coordinate: a pair's mean term is 2ε_i Σ_j μ_jσ_jε_j/σ_i, of
    variance 8μ_i² + 4Σ_{j≠i} μ_j²σ_j²/σ_i²; checked per coordinate and in the trace."""
    n, replicates = 8, 20000
    mu = torch.tensor([1.3, -0.7, 0.4], **F64)
    sigma = torch.tensor([0.5, 0.8, 1.4], **F64)
    trick = reduced(score, Antithetic(), NoControl(), "gaussian", n)
    per_coordinate = trick.closed_form(trick, Square(), mu, sigma, n)
    d2, s2 = mu.square(), sigma.square()
    by_hand = 2 * (8 * d2 + 4 * ((d2 * s2).sum() - d2 * s2) / s2)  # 2 × Var(pair mean): [47.11, 17.04, 5.56]
    assert torch.allclose(per_coordinate, by_hand, rtol=1e-12, atol=0)
    assert float(trick.closed_form_variance(Square(), mu, sigma, n)) == pytest.approx(float(by_hand.sum()))
    torch.manual_seed(1)
    q = Gaussian(mu.expand(replicates, 3).clone(), sigma.expand(replicates, 3).clone(), "diagonal")
    x = estimates(score, Antithetic(), Square(), q, n)[:, :3]  # the μ-terms; the s-terms follow
    for i in range(3):
        variance, se = trace_variance(x[:, i : i + 1])
        assert abs(n * variance - float(per_coordinate[i])) < Z * n * se, (i, n * variance, se)
    variance, se = trace_variance(x)
    assert abs(n * variance - float(by_hand.sum())) < Z * n * se


def test_antithetic_normal_draws_are_exact_mirrors() -> None:
    """The second half of a step's draws is the first half reflected through μ (μ ± σε, to rounding)."""
    torch.manual_seed(2)
    q = at_point(5, 3, MU, SIGMA, **F64)
    x = Antithetic().rsample(q.normal(), q.sample_shape(6))
    first, second = x.chunk(2, dim=-2)
    assert torch.allclose(first + second, torch.full_like(first, 2 * MU), rtol=0, atol=1e-14)
    assert float((first - MU).abs().min()) > 0  # not μ itself


# ------------------------------------------------------------------------------------------------
# Scrambled Sobol' points


def slope(draws, replicates: int) -> float:
    """The least-squares slope of log Var(pathwise's μ-estimate) on the square against log n."""
    sizes = [4, 16, 64, 256]
    variances = [
        float(estimates(pathwise, draws, Square(), at_point(replicates, 1, MU, SIGMA, **F64), n).var())
        for n in sizes
    ]
    return float(np.polyfit(np.log(sizes), np.log(variances), 1)[0])


def test_sobol_variance_falls_faster_than_one_over_n() -> None:
    """Randomised QMC on a smooth integrand: Var(2μ + 2σΦ⁻¹(u) averaged) falls like about n^−2.25
    here, steeper than −1.3; independent draws' is −1 (4σ²/n exactly), within ±0.15.

    Why it cannot pass by luck: each log-variance from R = 500 estimates has standard error about
    √(2/R) ≈ 0.063, and the slope's is that over √Σ(log n − mean)² ≈ 3.1, about 0.02. Measured
    here: Sobol' −2.25, iid −0.99; with other seeds Sobol' −2.24 to −2.32, iid −0.97 to −1.02. Were
    Sobol' no better than iid (slope −1), its fit would have to be off by 0.3, some 15 standard
    errors, to pass; the iid band is ±7 of them.
    """
    torch.manual_seed(0)
    assert slope(Sobol(), 500) < -1.3
    assert -1.15 < slope(IID(), 500) < -0.85


def test_sobol_points_are_scrambled_per_row_reproducible_and_uniform() -> None:
    """Each row's points are a scrambled Sobol' net of their own, the seed replays them, and each point
    is uniform across rows. Measured: the largest |mean − ½| 0.0064 (tolerance 0.026), the largest
    CDF gap 0.0195 (band 0.060)."""
    draws, replicates = Sobol(), 2000
    torch.manual_seed(3)
    u = draws.uniform((replicates, 8, 2))
    torch.manual_seed(3)
    assert torch.equal(draws.uniform((4, 8, 2)), u[:4])  # the same seed, the same scrambles
    assert not torch.equal(draws.uniform((4, 8, 2)), u[:4])  # the stream moved on: new ones
    # Every row is its own scramble: no two of the 2000 rows share a point set.
    assert torch.unique(u.flatten(1), dim=0).shape[0] == replicates
    # Each row's 8 points are still a net: one in every eighth of [0, 1), in each coordinate.
    strata = (u * 8).floor().sort(dim=-2).values
    assert torch.equal(strata, torch.arange(8.0, **F64).view(1, 8, 1).expand_as(strata))
    # Each point (index j, coordinate c) is marginally U(0, 1) across rows: its mean within 4
    # standard errors of 1/2 (sd 1/√12), and its empirical CDF within the DKW band, which holds
    # with probability 1 − 2e^{−2Rε²}: ε = 0.06 gives 1 − 1e-6 per point, at R = 2000.
    points = u.flatten(1)  # [R, 16]
    assert ((points.mean(0) - 0.5).abs() < Z / math.sqrt(12 * replicates)).all()
    grid = torch.linspace(0, 1, 201, **F64)
    ecdf = (points.unsqueeze(-1) <= grid).to(torch.float64).mean(0)  # [16, 201]
    band = math.sqrt(math.log(2 / 1e-6) / (2 * replicates))
    assert float((ecdf - grid).abs().max()) < band
    assert ((u > 0) & (u < 1)).all()


# ------------------------------------------------------------------------------------------------
# The in-step variance, over the independent units


@pytest.mark.parametrize(
    ("draws", "n", "replicates"),
    [(Antithetic(), 8, 20000), (Sobol(scrambles=4), 8, 1000)],
    ids=["antithetic", "sobol-4-scrambles"],
)
def test_in_step_variance_is_honest_over_the_units(draws, n: int, replicates: int) -> None:
    """Score on the square: the mean of the in-step estimates (the units' sample variance over the
    unit count) matches the variance of the estimates across replicates. The standard error adds
    both sides' as if independent; they share the replicates, so it is if anything too wide."""
    trick = reduced(score, draws, NoControl(), "gaussian", n)
    torch.manual_seed(4)
    terms = trick(Square(), at_point(replicates, 1, MU, SIGMA, **F64).with_draws(draws), n)
    mean = terms.mean(-2)
    in_step = trick.variance_of_mean(terms, mean)[:, 0]
    across, across_se = trace_variance(mean)
    se = math.hypot(float(in_step.std()) / math.sqrt(replicates), across_se)
    # Measured (seed 4): antithetic 3.320 against 3.333 (SE 0.069); Sobol' 3.40 against 3.55 (SE 0.34).
    assert abs(float(in_step.mean()) - across) < Z * se, (float(in_step.mean()), across, se)


def test_no_in_step_variance_without_independent_units() -> None:
    """One scramble is one unit; the leave-one-out baseline's terms, corrected by the delta method,
    are not independent across samples."""
    torch.manual_seed(5)
    for estimator, draws, control in [
        (score, Sobol(scrambles=1), NoControl()),
        (score_baseline, IID(), Delta(coefficient_samples=25)),
    ]:
        trick = reduced(estimator, draws, control, "gaussian", 8)
        terms = trick(Square(), at_point(4, 1, MU, SIGMA, **F64).with_draws(draws), 8)
        assert trick.variance_of_mean(terms, terms.mean(-2)) is None


# ------------------------------------------------------------------------------------------------
# Units and refusals


@pytest.mark.parametrize(
    ("draws", "units"), [(IID(), 8), (Antithetic(), 4), (Sobol(scrambles=4), 4), (Sobol(), 1)]
)
def test_units_and_per_sample_round_trip(draws, units: int) -> None:
    n = 8
    terms = torch.randn(3, n, 2, **F64)
    assert draws.unit_count(n) == units
    per_unit = draws.units(terms)
    assert per_unit.shape == (3, units, 2)
    spread = draws.per_sample(per_unit, n)
    assert spread.shape == (3, n, 2)
    assert torch.equal(
        draws.units(spread), per_unit
    )  # a unit's value, spread over its samples, averages back
    assert torch.allclose(per_unit.mean(-2), terms.mean(-2), rtol=0, atol=1e-14)  # units keep the mean
    if isinstance(draws, Antithetic):  # a unit is a sample and its mirror, n/2 apart
        assert torch.allclose(per_unit[:, 1], (terms[:, 1] + terms[:, 1 + n // 2]) / 2)
    if isinstance(draws, Sobol):  # a unit is a scramble's block of n/scrambles samples
        assert torch.allclose(per_unit[:, 0], terms[:, : n // units].mean(-2))


def test_draws_refuse_an_n_they_cannot_make_in_one_line() -> None:
    with pytest.raises(ValueError) as error:
        Antithetic().check(3)
    line = str(error.value)
    assert "\n" not in line and "n_samples=3" in line and "even" in line
    Antithetic().check(4)
    with pytest.raises(ValueError, match=r"^bad value n_samples=8: draws=sobol with draws\.scrambles=3 "):
        Sobol(scrambles=3).check(8)
    Sobol(scrambles=4).check(8)
    with pytest.raises(ValueError, match=r"^bad value draws\.scrambles=0: must be an integer >= 1$"):
        Sobol(scrambles=0).check(8)
