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


LONG = np.arange(201)


def steady(label: str, share: float = 0.0, width: float = 0.02) -> ConfigCurves:
    """pathwise at D = 100 and a small step: θ creeps from 3 towards 0, its RMS error (over all
    coordinates) stays far above the tolerance; ``share`` % of replicates diverge one at a time
    while the band over the survivors, ``width`` either side of the mean, stays put."""
    theta = 3.0 * 0.998**LONG
    series = {
        "theta/mean": (LONG, theta),
        "theta/q05": (LONG, theta - width),
        "theta/q95": (LONG, theta + width),
        "theta/rms_error": (LONG, 10.0 * theta),
        "grad/variance": (LONG, np.full(len(LONG), 400.0)),
        "theta/diverged": (LONG, np.linspace(0.0, share, len(LONG))),
    }
    return ConfigCurves(label, label.split("=")[-1], 1.0, series, tolerance=0.35)


def diverging(label: str = "estimator=score", first: int = 22, last: int = 37) -> ConfigCurves:
    """The score function far above its critical step: its spread grows geometrically from the start,
    its first replicate diverges at ``first`` and its last at ``last``, where the run stops; its
    survivors' band reaches ±10⁶ on the way."""
    steps = np.arange(last + 1)
    spread = 0.5 * 1.5**steps
    series = {
        "theta/mean": (steps, np.full(len(steps), 3.0)),
        "theta/q05": (steps, 3.0 - spread),
        "theta/q95": (steps, 3.0 + spread),
        "theta/rms_error": (steps, 30.0 * 1.2**steps),
        "grad/variance": (steps, 5e7 * 2.0**steps),
        "theta/diverged": (steps, np.clip((steps - first + 1) * 100.0 / (last - first + 1), 0.0, 100.0)),
    }
    return ConfigCurves(label, label.split("=")[-1], 1.0, series, tolerance=0.35)


def panels(configs: list[ConfigCurves]) -> dict[str, object]:
    """The figure's panels by the start of their title."""
    fig = comparison_figure(configs, "test")
    return {ax.get_title().split(":")[0]: ax for ax in fig.axes}


def span(config: ConfigCurves, *tags: str, before: float = np.inf) -> tuple[float, float]:
    values = np.concatenate([config.series[t][1][config.series[t][0] < before] for t in tags])
    return float(values.min()), float(values.max())


def test_a_diverging_configuration_does_not_set_the_theta_axis() -> None:
    kept, lost = steady("estimator=pathwise"), diverging()
    axes = panels([kept, lost])
    low, high = span(kept, "theta/q05", "theta/q95")
    for name in ("θ with pathwise", "θ with score"):
        bottom, top = axes[name].get_ylim()
        assert low - (high - low) <= bottom <= low and high <= top <= high + (high - low), name
    notes = [text.get_text() for text in axes["θ with score"].texts]
    assert any(lost.label in note for note in notes)  # the panel says whose band left the axis


def test_log_axes_hold_the_tolerance_and_what_came_before_divergence_only() -> None:
    kept, lost = steady("estimator=pathwise"), diverging()
    first = 22
    axes = panels([kept, lost])
    bottom, top = axes["RMS error of θ over replicates (log axis)"].get_ylim()
    assert bottom <= kept.tolerance <= top
    assert top >= span(lost, "theta/rms_error", before=first)[1]
    assert top < lost.series["theta/rms_error"][1].max()  # not fitted to its survivors' blow-up
    bottom, top = axes["in-step variance of the gradient estimate (log axis)"].get_ylim()
    assert bottom <= 400.0 and span(lost, "grad/variance", before=first)[1] <= top
    assert top < lost.series["grad/variance"][1].max()


def test_a_configuration_that_kept_most_replicates_still_sets_the_axis() -> None:
    """The unstable preset's case: a third of the replicates diverge one by one, and the band over
    the survivors, wider than the other configuration's, stays in view."""
    narrow, wide = steady("estimator=pathwise"), steady("estimator=score", share=35.0, width=1.3)
    bottom, top = panels([narrow, wide])["θ with score"].get_ylim()
    low, high = span(wide, "theta/q05", "theta/q95")
    assert bottom <= low and high <= top


def test_when_every_configuration_diverges_the_axis_holds_them_before_divergence() -> None:
    early, late = diverging("estimator=score", 22, 37), diverging("estimator=score_baseline", 30, 40)
    bottom, top = panels([early, late])["θ with score"].get_ylim()
    low, high = span(late, "theta/q05", "theta/q95", before=30)
    assert bottom <= low and high <= top
    assert top < early.series["theta/q95"][1].max()
