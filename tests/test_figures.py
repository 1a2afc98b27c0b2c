"""The sweep comparison figure draws something in every panel it makes, whatever the sweep logged."""

from __future__ import annotations

import numpy as np
import pytest

from reparam_opt.sweep_summary.figure import comparison_figure
from reparam_opt.sweep_summary.jobs import ConfigCurves

STEPS = np.arange(11)


def config(hue: str, variance: bool, diverged: float) -> ConfigCurves:
    """Curves as a job of ``hue`` logs them: no ``grad/variance`` at n = 1, ``diverged`` % by the end."""
    theta = 3.0 * 0.8**STEPS
    series = {
        "theta/mean": (STEPS, theta),
        "theta/q05": (STEPS, theta - 0.5),
        "theta/q95": (STEPS, theta + 0.5),
        "theta/rms_error": (STEPS, np.abs(theta) + 0.1),
        "theta/diverged": (STEPS, np.linspace(0.0, diverged, len(STEPS))),
    }
    if variance:
        series["grad/variance"] = (STEPS, np.full(len(STEPS), 0.0 if hue == "exact" else 2.0))
    return ConfigCurves(f"estimator={hue}", hue, 1.0, series, tolerance=0.35)


def panel_titles(variance: bool, diverged: float) -> list[str]:
    configs = [config(h, variance, 0.0 if h != "score" else diverged) for h in ("exact", "pathwise", "score")]
    fig = comparison_figure(configs, "test")
    for ax in fig.axes:  # no empty panel: every one draws at least one line or band
        assert ax.lines or ax.collections, ax.get_title()
    return [ax.get_title() for ax in fig.axes]


@pytest.mark.parametrize(
    "variance,diverged,last",
    [
        (True, 0.0, "in-step variance of the gradient estimate (log axis)"),  # the default sweep
        (False, 35.0, "replicates diverged (|θ| > 10⁶ or not finite)"),  # the unstable preset: n = 1
    ],
)
def test_the_third_panel_shows_what_the_sweep_logged(variance: bool, diverged: float, last: str) -> None:
    titles = panel_titles(variance, diverged)
    assert titles[:2] == [f"θ with {h}: mean and 5–95% band across replicates" for h in ("pathwise", "score")]
    assert titles[2] == "RMS error of θ over replicates (log axis)"
    assert titles[3:] == [last]


def test_no_variance_and_no_divergence_leaves_no_empty_panel() -> None:
    assert len(panel_titles(variance=False, diverged=0.0)) == 3
