"""What sets a y axis of the sweep's comparison figure: the series that did not diverge.

A configuration whose replicates mostly diverge leaves a trail of survivors on their way out (the
score function far above its critical step, in many dimensions): their 5–95% band of θ grows by
orders of magnitude before the last of them crosses |θ| > 10⁶. An axis fitted to that draws every
other configuration as a flat line at 0, and puts the tolerance off the RMS error's axis. So an axis
is fitted to the configurations that kept most of their replicates ("steady"); a diverging one is
still drawn, leaves the axis where it grows beyond it, and the panel of replicates diverged shows
where it went.

A log axis holds growth over decades, so there a diverging configuration also counts up to the step
its first replicate diverged: its noise before it blew up is part of the comparison. A configuration
that lost some replicates but kept most (the unstable preset) counts in full: its band, quantiles
over the survivors, stays put while a few replicates leave it one at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from reparam_opt.sweep_summary.jobs import ConfigCurves

#: The share of replicates diverged (percent, median over seeds) from which a configuration is diverging.
MOSTLY = 50.0
#: The smallest value a log axis draws: the exact gradient's zeros cannot be drawn on one.
LOG_VISIBLE = 1e-12
#: A final value below this is the exact gradient's error falling to 1e-19, not a floor to keep in view.
LOG_FLOOR = 1e-8
DIVERGED = "theta/diverged"


def diverging(config: ConfigCurves) -> bool:
    """Whether most of the configuration's replicates diverged by its last logged step."""
    share = config.series.get(DIVERGED, (None, np.array([])))[1]
    return bool(np.any(share >= MOSTLY))


def first_divergence(config: ConfigCurves) -> float:
    """The first logged step at which some replicate had diverged; ∞ if none did."""
    steps, share = config.series.get(DIVERGED, (np.array([]), np.array([])))
    hit = steps[share > 0]
    return float(hit[0]) if hit.size else math.inf


def _values(config: ConfigCurves, tags: Sequence[str], before: float = math.inf) -> list[float]:
    """The configuration's values of ``tags`` at the steps before ``before``."""
    series = [config.series[tag] for tag in tags if tag in config.series]
    return [float(v) for steps, values in series for v in values[steps < before]]


def axis_values(configs: Sequence[ConfigCurves], tags: Sequence[str], log: bool = False) -> np.ndarray:
    """The values of ``tags`` an axis is fitted to (finite; on a log axis, drawable): every steady
    configuration's, and the diverging ones' before their first divergence on a log axis, or on a
    linear one where no configuration is steady; failing all that, every value."""
    steady = [c for c in configs if not diverging(c)]
    chosen = [v for c in steady for v in _values(c, tags)]
    if log or not steady:
        chosen += [v for c in configs if diverging(c) for v in _values(c, tags, first_divergence(c))]

    def usable(values: list[float]) -> np.ndarray:
        array = np.asarray(values, dtype=float)
        keep = np.isfinite(array)
        return array[keep & (array > LOG_VISIBLE)] if log else array[keep]

    fitted = usable(chosen)
    return fitted if fitted.size else usable([v for c in configs for v in _values(c, tags)])


def left_out(configs: Sequence[ConfigCurves]) -> list[str]:
    """The configurations a linear axis is fitted without (diverging, beside a steady one)."""
    if all(diverging(c) for c in configs):
        return []
    return [c.label for c in configs if diverging(c)]


def band_limits(
    configs: Sequence[ConfigCurves], prefix: str = "theta", log: bool = False
) -> tuple[float, float] | None:
    """Limits that hold the 5–95% bands of ``prefix``/q05 and /q95 the axis is fitted to
    (``axis_values``), with a margin (a factor on a log axis).

    The bands, not the means: a few replicates on their way to diverging can carry the mean
    far off while the band stays put; a mean that leaves the axis says so by leaving it.
    """
    values = axis_values(configs, (f"{prefix}/q05", f"{prefix}/q95"), log)
    if not values.size:
        return None
    low, high = float(values.min()), float(values.max())
    if log:
        return low / 1.5, high * 1.5
    margin = 0.08 * (high - low or 1.0)
    return low - margin, high + margin


def log_limits(
    configs: Sequence[ConfigCurves], tag: str, keep: float | None = None
) -> tuple[float, float] | None:
    """A log axis for ``tag``: up to the largest value fitted (``axis_values``), down to a quarter of
    the lowest final value of a steady configuration, and wide enough to hold ``keep`` (a tolerance).

    The floor is the final values, not every value: the exact gradient's error falls to 1e-19, and
    an axis down to there would crush the rest; it leaves the axis instead.
    """
    values = axis_values(configs, (tag,), log=True)
    if not values.size:
        return None
    ends = [c.series[tag][1][-1:] for c in configs if tag in c.series and not diverging(c)]
    finals = [float(v) for end in ends for v in end if v > LOG_FLOOR]
    low, high = (min(finals) / 4 if finals else float(values.min()) / 1.5), float(values.max()) * 1.5
    if keep is not None and keep > 0:
        low, high = min(low, keep / 1.5), max(high, keep * 1.5)
    return low, high
