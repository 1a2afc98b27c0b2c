"""Control variates (``reparam_opt/estimators/delta_method.py``, ``moving_average.py``) applied by
``reduction.reduced``: the delta method removes the whole variance where f is of degree two, every
combination of estimator, draws and control variate is unbiased (4 standard errors, fixed seed),
and the Taylor expansion is the cost's (the moving average's state and the count of f-evaluations:
``test_moving_average.py``).

Two kinds of combination would be biased, and are refused in one line instead: ``score_baseline``
with antithetic or Sobol' draws (its baseline averages f over a sample's own partner) and
``score_baseline`` with the delta method's leave-one-out β (the other units' terms hold f(x_i)).
A third, ``pathwise`` with antithetic pairs and the leave-one-out β, was biased until β ignored a
control variance at rounding level; a high-power test holds it.
"""

from __future__ import annotations

import math

import pytest
import torch

from reparam_opt.estimators import measure_valued, pathwise, score, score_baseline
from reparam_opt.estimators.delta_method import Delta, taylor
from reparam_opt.estimators.moving_average import MovingAverage
from reparam_opt.estimators.reduction import NoControl, reduced
from reparam_opt.families.draws import IID, Antithetic, Sobol
from reparam_opt.families.gaussian import Gaussian, at_point
from reparam_opt.objectives import Cosine, Square
from reparam_opt.objectives.linear_regression import LinearRegression
from reparam_opt.objectives.logistic_regression import LogisticRegression
from reparam_opt.objectives.quadratic import Quadratic

Z = 4.0
F64 = {"dtype": torch.float64}
EPS = torch.finfo(torch.float64).eps
MU, SIGMA = 1.3, 0.8
ESTIMATORS = {e.name: e for e in (score, score_baseline, pathwise, measure_valued)}
CONTROLS = {
    "none": NoControl(),
    "delta-loo": Delta(0),
    "delta-25": Delta(25),
    "moving_average": MovingAverage(),
}


#: Sobol' draws build one engine per row: one thread (``conftest.one_thread``).
pytestmark = pytest.mark.usefixtures("one_thread")


def draws_of(name: str, control: str) -> IID:
    """The draws by name; Sobol' with 4 scrambles where the leave-one-out β needs 3 or more units."""
    if name == "sobol":
        return Sobol(scrambles=4 if control == "delta-loo" else 1)
    return {"iid": IID(), "antithetic": Antithetic()}[name]


def q_at(mu: torch.Tensor, sigma: torch.Tensor | float, learned: str, replicates: int, draws) -> Gaussian:
    """q with every replicate at (μ [D], σ) in float64: σ a number when fixed, [D] when diagonal."""
    loc = mu.expand(replicates, -1).clone()
    if learned == "fixed":
        return Gaussian(loc, torch.tensor(float(sigma), **F64), draws=draws)
    return Gaussian(loc, torch.as_tensor(sigma, **F64).expand(replicates, -1).clone(), learned, draws)


# ------------------------------------------------------------------------------------------------
# The delta method where f is a polynomial of degree two: f̃ = f, so every estimate is ∇J exactly


def assert_exact_to_rounding(estimator, draws, control: int, cost, q: Gaussian, exact: torch.Tensor) -> None:
    """Every replicate's estimate is the exact gradient to float64 rounding.

    Each corrected term t − β(c − E c) is a difference of numbers of the size T of the plain terms
    that agree to a few ulps (t = c + E c exactly in real arithmetic, and β = 1). So the estimates'
    spread and their mean's error are a modest multiple of eps·T: in these cases at most 41 eps·T
    (linear regression, measure-valued, antithetic, leave-one-out β), and 140 at other seeds and R.
    The tolerance is 1e4·eps·T ≈ 2.2e-12·T, some 70 times that: a control variate that left any
    real share of the variance would be far outside it.
    """
    n = 8
    trick = reduced(estimator, draws, Delta(control), "gaussian", n)
    torch.manual_seed(0)
    x = trick(cost, q, n).mean(-2)
    size = float(estimator(cost, q.with_draws(IID()), n).abs().max())  # T
    tolerance = 1e4 * EPS * size
    assert float(x.std(0).max()) <= tolerance, (float(x.std(0).max()), tolerance)
    assert float((x.mean(0) - exact).abs().max()) <= tolerance, (x.mean(0), exact, tolerance)
    # Nor is anything in the closed form left to measure.
    mu = q.loc[0]
    assert (
        float(trick.closed_form_variance(cost, mu, q.scale if q.scale.dim() == 0 else q.scale[0], n)) == 0.0
    )


def refused(estimator: str, draws: str, control: str) -> bool:
    """Refused in one line, as biased (``test_biased_combinations_are_refused``)."""
    return bool({(estimator, draws), (estimator, control)} & REFUSED)


#: Combinations refused because they would be biased: (estimator, draws) or (estimator, control).
REFUSED = {("score_baseline", "antithetic"), ("score_baseline", "sobol"), ("score_baseline", "delta-loo")}

SECOND_ORDER_CASES = [
    (e, d, k)
    for e in ESTIMATORS
    for d in ("iid", "antithetic", "sobol")
    for k in (0, 25)
    if not refused(e, d, "delta-loo" if k == 0 else "delta-25")
]


@pytest.mark.parametrize(("estimator", "draws", "control"), SECOND_ORDER_CASES)
def test_delta_leaves_no_variance_on_the_square(estimator: str, draws: str, control: int) -> None:
    q = at_point(32, 1, MU, SIGMA, **F64).with_draws(draws_of(draws, "delta-loo" if control == 0 else ""))
    exact = torch.tensor([2 * MU], **F64)
    assert_exact_to_rounding(ESTIMATORS[estimator], q.draws, control, Square(), q, exact)


@pytest.mark.parametrize(("estimator", "draws", "control"), SECOND_ORDER_CASES)
def test_delta_leaves_no_variance_on_the_correlated_quadratic(
    estimator: str, draws: str, control: int
) -> None:
    """D = 3, ρ = 0.5, σ learned per coordinate (different in each): the μ-gradient 2A(μ − m) and the
    scale gradient 2σ_i², both exact."""
    cost = Quadratic(rho=0.5, k=1.0)
    mu, sigma = torch.tensor([1.3, -0.7, 0.4], **F64), torch.tensor([0.5, 0.8, 1.4], **F64)
    q = q_at(mu, sigma, "diagonal", 32, draws_of(draws, "delta-loo" if control == 0 else ""))
    exact = torch.cat([cost.gradient(mu, sigma), cost.scale_gradient(mu, sigma, "diagonal")])
    assert_exact_to_rounding(ESTIMATORS[estimator], q.draws, control, cost, q, exact)


@pytest.mark.parametrize(
    ("estimator", "draws", "control"),
    [
        (e, d, k)
        for e in ESTIMATORS
        for d, k in (("antithetic", 0), ("sobol", 25), ("iid", 25))
        if not refused(e, d, "delta-loo" if k == 0 else "delta-25")
    ],
)
def test_delta_leaves_no_variance_on_linear_regression(estimator: str, draws: str, control: int) -> None:
    """Bayesian linear regression on diabetes (D = 11: ten features and the intercept), whose
    negative log joint is quadratic in w: at w = 0.2·1, σ = 0.1, the gradient Λ(μ − w*) exactly,
    though the score function's terms there are of size 3·10⁴."""
    cost = LinearRegression()
    assert cost.dim == 11
    mu = torch.full((cost.dim,), 0.2, **F64)
    q = q_at(mu, 0.1, "fixed", 16, draws_of(draws, "delta-loo" if control == 0 else ""))
    assert_exact_to_rounding(ESTIMATORS[estimator], q.draws, control, cost, q, cost.gradient(mu, 0.1))


# ------------------------------------------------------------------------------------------------
# Every combination is unbiased: the mean of R estimates within 4 standard errors of ∇J


def unbiased_cases() -> list:
    cases = []
    for estimator in ESTIMATORS:
        for control in CONTROLS:
            if control == "moving_average" and estimator != "score":
                continue  # refused: the others' terms do not move with a constant
            for draws in ("iid", "antithetic", "sobol"):
                if refused(estimator, draws, control):
                    continue  # refused in one line: test_biased_combinations_are_refused
                cases.append(pytest.param(estimator, draws, control))
    return cases


@pytest.mark.parametrize("combination", sorted(REFUSED))
def test_biased_combinations_are_refused(combination: tuple[str, str]) -> None:
    estimator, trick = combination
    draws = draws_of(trick, "none") if trick in ("antithetic", "sobol") else IID()
    control = CONTROLS[trick] if trick in CONTROLS else NoControl()
    with pytest.raises(ValueError, match=r"^bad value (draws|control_variate\.coefficient_samples)="):
        reduced(ESTIMATORS[estimator], draws, control, "gaussian", 8)


@pytest.mark.parametrize("learned", ["fixed", "diagonal"])
@pytest.mark.parametrize(("estimator", "draws", "control"), unbiased_cases())
def test_every_trick_is_unbiased_on_the_cosine(
    estimator: str, draws: str, control: str, learned: str
) -> None:
    """cos(1.5x) at μ = 1.3, σ = 0.8 (not of degree two, so nothing cancels exactly), n = 8: R = 1000
    estimates (128 with Sobol' draws, which build an engine per row and scramble), each coordinate's
    mean within 4 standard errors (sample sd/√R) of ∇_μ J = −k sin(kμ)e^{−k²σ²/2} and, with a learned
    diagonal scale, of ∂J/∂s = σ²J''. The moving average is warmed up first with its own 100 calls,
    as the variance study does (``warmup``); the warm-up draws iid (c holds past steps' mean f only,
    and the step measured is unbiased given it, whatever drew the past)."""
    cost, n = Cosine(k=1.5), 8
    replicates = 128 if draws == "sobol" else 1000
    control_variate, how = CONTROLS[control], draws_of(draws, control)
    trick = reduced(ESTIMATORS[estimator], how, control_variate, "gaussian", n)
    mu, sigma = torch.tensor([MU], **F64), torch.tensor([SIGMA], **F64)
    exact = cost.gradient(mu, sigma)
    if learned == "diagonal":
        exact = torch.cat([exact, cost.scale_gradient(mu, sigma, learned)])
    q = q_at(mu, SIGMA if learned == "fixed" else sigma, learned, replicates, how)
    torch.manual_seed(0)
    state: dict = {}
    for _ in range(control_variate.warmup):
        trick(cost, q.with_draws(IID()), n, state=state)
    x = trick(cost, q, n, state=state).mean(-2)
    z = (x.mean(0) - exact) / (x.std(0) / math.sqrt(replicates))
    assert (z.abs() < Z).all(), z.tolist()


def z_score(estimator, draws, control, n: int, replicates: int, seed: int) -> float:
    """The μ-estimate's mean against ∇J on the cosine in standard errors, with a large R."""
    cost = Cosine(k=1.5)
    torch.manual_seed(seed)
    trick = reduced(estimator, draws, control, "gaussian", n)
    x = trick(cost, at_point(replicates, 1, MU, SIGMA, **F64).with_draws(draws), n).mean(-2)[:, 0]
    exact = float(cost.gradient(torch.tensor([MU], **F64), SIGMA)[0])
    return (float(x.mean()) - exact) / (float(x.std()) / math.sqrt(replicates))


def test_pathwise_with_antithetic_pairs_and_leave_one_out_delta_is_unbiased() -> None:
    """The control's pathwise terms g + H(x − μ) are linear in ε, so a pair's mean is E c exactly and
    each unit's c − E c is rounding: β must then be 0, not rounding over rounding (which gave β of
    order 1e15, a mean off by z ≈ −10.6 at R = 2·10⁵ and the sd up from 0.376 to 0.539)."""
    assert abs(z_score(pathwise, Antithetic(), Delta(0), 8, 200_000, seed=1)) < Z


# ------------------------------------------------------------------------------------------------
# The Taylor expansion


def test_taylor_expansion_of_the_quadratic_is_the_quadratic() -> None:
    """f = (x − m)ᵀA(x − m): autograd's Hessian is 2A (A built from the objective, A = times_a(I)),
    the expected μ-gradient is ∇f(μ) = ∇J, the expected scale gradient σ_i²H_ii = 2σ_i² = ∂J/∂s_i,
    and f̃ = f at any x."""
    cost = Quadratic(rho=0.5, k=1.0)
    mu = torch.tensor([[1.3, -0.7, 0.4]], **F64)
    sigma = torch.tensor([[0.5, 0.8, 1.4]], **F64)
    expansion, expected = taylor(cost, Gaussian(mu, sigma, "diagonal"))
    a = cost.times_a(torch.eye(3, **F64))
    assert torch.allclose(a, torch.tensor([[1.0, 0.5, 0.5], [0.5, 1.0, 0.5], [0.5, 0.5, 1.0]], **F64))
    hessian = torch.autograd.functional.hessian(lambda x: expansion(x.view(1, 1, 3)).sum(), mu[0].clone())
    assert torch.allclose(hessian, 2 * a, rtol=0, atol=1e-12)
    assert torch.allclose(expected[:, :3], cost.gradient(mu, sigma), rtol=1e-12, atol=0)
    assert torch.allclose(expected[:, 3:], cost.scale_gradient(mu, sigma, "diagonal"), rtol=1e-12, atol=0)
    torch.manual_seed(6)
    x = torch.randn(1, 50, 3, **F64) * 2
    assert torch.allclose(expansion(x), cost(x), rtol=1e-12, atol=1e-12)


@pytest.mark.slow  # alone, about 4 s here: the first data model of a session imports scikit-learn
def test_delta_on_logistic_regression_at_the_prior() -> None:
    """At q = N(0, I) (μ = 0, σ = 1, scale diagonal): sigmoid'(0) = 1/4 and the standardised features
    have Σ_n x_nj² = N, so every H_jj = N/4 + 1/p² (143.25 on breast_cancer's 569 points), finite,
    and the expected scale gradient σ²H_jj is that. The delta method's pathwise variance is lower than
    plain pathwise's. Measured (R = 200, n = 8, seed 0): μ trace 34380 plain, 4181 with the
    leave-one-out β, 2789 with 25 extra draws; the s trace 118675, 81642, 51714."""
    cost = LogisticRegression()
    dim, replicates, n = cost.dim, 200, 8
    assert dim == 31
    q = q_at(torch.zeros(dim, **F64), torch.ones(dim, **F64), "diagonal", replicates, IID())
    _, expected = taylor(cost, q.rows(0, 1))
    curvature = cost.size / 4 + 1 / cost.prior_scale**2
    assert torch.isfinite(expected).all()
    assert torch.allclose(expected[0, dim:], torch.full((dim,), curvature, **F64), rtol=1e-10)
    torch.manual_seed(0)
    plain = pathwise(cost, q, n).mean(-2).var(0)
    for control in (Delta(0), Delta(25)):
        reduced_variance = reduced(pathwise, IID(), control, "gaussian", n)(cost, q, n).mean(-2).var(0)
        assert float(reduced_variance[:dim].sum()) < 0.5 * float(plain[:dim].sum())
        assert float(reduced_variance[dim:].sum()) < float(plain[dim:].sum())
