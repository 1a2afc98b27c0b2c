"""What a Bernoulli run shows beyond θ: the log variance beside its closed form, a step whose sample
variances are all 0, the moving-average baseline, and how the sweep figure reads them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from reparam_opt.sweep_summary.jobs import ConfigGroup, curves, find_jobs
from reparam_opt.training import train
from tests.bernoulli_cases import Z, enumerated, leave_one_out, reinforce


def test_log_variance_has_its_closed_form_beside_it(make_cfg, tmp_path: Path) -> None:
    """REINFORCE at θ = 0, t = 0.45: ln of the single-sample variance 0.0159391 (REFERENCE), and the
    leave-one-out estimate with n = 4 its own; no closed form, no tag."""
    from tests.conftest import scalars

    for name, n, estimate in [("score", 1, reinforce(0.45)), ("score_baseline", 4, leave_one_out(0.45))]:
        run = tmp_path / name
        extra = ("variance_draws=10",) if n == 1 else ()
        train(make_cfg("family=bernoulli", f"estimator={name}", f"n_samples={n}", "steps=2", *extra), run)
        _, var, _ = enumerated(0.0, 0.45, n, estimate)
        step0 = dict(scalars(run)["grad/log_variance_analytic"])[0]
        assert math.isclose(step0, math.log(n * var), rel_tol=1e-5)
    train(make_cfg("family=bernoulli", "estimator=concrete", "steps=2"), tmp_path / "concrete")
    assert "grad/log_variance_analytic" not in scalars(tmp_path / "concrete")


@pytest.mark.parametrize("how", ["estimator=score_ema", "estimator=score control_variate=moving_average"])
def test_moving_average_baseline_is_logged(how: str, make_cfg, tmp_path: Path) -> None:
    """``estimator/baseline`` is the c each step used: 0 at step 0, then (1 − decay)·mean f(b) after
    one step, whose mean over R replicates is 0.05·J(0) = 0.05·0.2525 within 4 standard errors; the
    same for ``score_ema`` and for the score function with the moving-average control variate,
    neither of which has a closed-form variance (plain score's would be wrong)."""
    from tests.conftest import scalars

    replicates = 4000
    cfg = make_cfg("family=bernoulli", *how.split(), "steps=3", f"replicates={replicates}")
    train(cfg, tmp_path)
    assert "grad/variance_analytic" not in scalars(tmp_path)
    baseline = dict(scalars(tmp_path)["estimator/baseline"])
    assert baseline[0] == 0.0
    p, t = 0.5, 0.45
    mean_f = p * (1 - t) ** 2 + (1 - p) * t**2
    sd_f = math.sqrt(p * (1 - p)) * abs((1 - t) ** 2 - t**2)
    assert abs(baseline[1] - 0.05 * mean_f) < Z * 0.05 * sd_f / math.sqrt(replicates)


def test_a_step_of_zero_sample_variances_breaks_the_figure_line(make_cfg, tmp_path: Path) -> None:
    """Far out (θ = −6, p = 0.0025) two leave-one-out samples almost always agree, so most steps'
    sample variances are all 0 and log no ln variance. The sweep's curve has −∞ there, not the few
    steps that saw both outcomes joined up; the closed form is at every step."""
    from tests.conftest import scalars

    common = ("family=bernoulli", "estimator=score_baseline", "theta0=-6", "steps=60", "replicates=2")
    for seed in (0, 1):
        run = tmp_path / f"seed={seed}"
        train(make_cfg(*common, f"seed={seed}"), run)
        (run / ".hydra").mkdir()
        (run / ".hydra" / "overrides.yaml").write_text(f"- seed={seed}\n")
    logged = [dict(scalars(tmp_path / f"seed={s}").get("grad/log_variance", [])) for s in (0, 1)]
    jobs = find_jobs(tmp_path)
    series = curves(ConfigGroup({}, jobs), "score_baseline").series
    steps, values = series["grad/log_variance"]
    assert list(steps) == list(range(61))
    neither = [s for s in range(61) if s not in logged[0] and s not in logged[1]]
    assert neither and all(values[s] == -np.inf for s in neither)
    assert np.all(np.isfinite(series["grad/log_variance_analytic"][1]))
