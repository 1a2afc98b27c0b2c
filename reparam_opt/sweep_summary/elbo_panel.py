"""The comparison figure's ELBO panels, where the runs logged the exact ELBO (J is −ELBO: a model's
negative log joint with the entropy's weight λ = 1). Every series a median over a configuration's
seeds, in its colour from the other panels:

- the exact ELBO on a linear axis: the mean across replicates and its 5–95% band, with the best
  mean-field ELBO (a constant of the model) as a dashed line. A run starts hundreds or thousands of
  nats below the optimum, and an axis that held the start would draw the approach as a step onto a
  flat line; so the axis is fitted to the curves from ``FIT_FROM`` of the steps on, its top a little
  above the optimum, and the panel's title says that the earlier steps lie off it;
- the gap to the optimum, best − ELBO in nats, on a log axis: the whole approach, from the start
  down to the noise the optimiser settles at, with its 5–95% band across replicates. The scalars
  are logged in float32, so a gap below a few float32 roundings of the ELBO (``rounding``) is not
  drawn: it is no longer a difference the log resolves.

A configuration that lost most of its replicates is drawn but not fitted to, as elsewhere
(``axis_limits``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from reparam_opt.sweep_summary.axis_limits import diverging
from reparam_opt.sweep_summary.jobs import ConfigCurves

ELBO = "elbo/value"
BAND = ("elbo/q05", "elbo/q95")
#: The share of the steps after which the ELBO panel's axis is fitted to the curves.
FIT_FROM = 0.15
#: The linear axis' margin, as a share of the fitted range.
MARGIN = 0.08


def has_elbo(config: ConfigCurves) -> bool:
    return ELBO in config.series


def has_gap(config: ConfigCurves) -> bool:
    return has_elbo(config) and config.optimal_elbo is not None


def _fitted(configs: Sequence[ConfigCurves], check: Callable[[ConfigCurves], bool]) -> list[ConfigCurves]:
    """The configurations an axis is fitted to: those ``check`` accepts that kept most replicates,
    or, where none did, all it accepts."""
    chosen = [c for c in configs if check(c)]
    return [c for c in chosen if not diverging(c)] or chosen


def fit_step(configs: Sequence[ConfigCurves]) -> int:
    """The first step the ELBO axis is fitted to: ``FIT_FROM`` of the longest run's steps."""
    last = max((int(c.series[ELBO][0][-1]) for c in configs if has_elbo(c)), default=0)
    return int(round(FIT_FROM * last))


def _band(config: ConfigCurves) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps, mean, 5% and 95% quantiles of the ELBO; the mean for a band that was not logged."""
    steps, mean = config.series[ELBO]
    low, high = (
        (config.series[BAND[0]][1], config.series[BAND[1]][1])
        if all(tag in config.series and len(config.series[tag][1]) == len(steps) for tag in BAND)
        else (mean, mean)
    )
    return steps, mean, low, high


def elbo_limits(configs: Sequence[ConfigCurves]) -> tuple[float, float] | None:
    """The linear axis: the bands (the mean without one) from ``fit_step`` on, and the optimum."""
    start = fit_step(configs)
    values = [c.optimal_elbo for c in _fitted(configs, has_elbo) if c.optimal_elbo is not None]
    for config in _fitted(configs, has_elbo):
        steps, _, low, high = _band(config)
        later = steps >= start
        values += [*low[later], *high[later]]
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return None
    low, high = float(finite.min()), float(finite.max())
    margin = MARGIN * (high - low or 1.0)
    return low - margin, high + margin


def elbo_panel(ax: Axes, configs: Sequence[ConfigCurves], colour: dict) -> None:
    """The exact ELBO per configuration, mean and 5–95% band, and the best mean-field ELBO dashed."""
    drawn = [c for c in configs if has_elbo(c)]
    for config in drawn:
        steps, mean, low, high = _band(config)
        ax.plot(steps, mean, color=colour[id(config)], lw=1.4)
        ax.fill_between(steps, low, high, color=colour[id(config)], alpha=0.2, lw=0)
    optima = sorted({c.optimal_elbo for c in drawn if c.optimal_elbo is not None})
    for optimum in optima:
        ax.axhline(optimum, color="black", lw=1.0, ls="--")
    if optima:
        best = Line2D([], [], color="black", lw=1.0, ls="--", label="best mean-field ELBO")
        ax.legend(handles=[best], fontsize=8, loc="lower right")
    limits = elbo_limits(drawn)
    title = "exact ELBO: mean and 5–95% band across replicates"
    if limits is not None:
        ax.set_ylim(*limits)
        start = fit_step(drawn)
        early = [
            step
            for config in drawn
            for step, low, high in zip(*(_band(config)[i] for i in (0, 2, 3)))
            if step < start and (low < limits[0] or high > limits[1])
        ]
        if early:
            title += f"\n(y fitted from step {start} on: the start, to step {max(early)}, is off the axis)"
    _finish(ax, title, "ELBO (nats)")


def rounding(config: ConfigCurves) -> float:
    """The smallest gap the log resolves: a few float32 roundings of the optimum's size."""
    return 4.0 * float(np.finfo(np.float32).eps) * max(1.0, abs(config.optimal_elbo or 0.0))


def gap_panel(ax: Axes, configs: Sequence[ConfigCurves], colour: dict) -> None:
    """best − ELBO per configuration on a log axis: the mean's gap and the replicates' 5–95% band."""
    floors, tops, lows = [], [], []
    fitted = {id(c) for c in _fitted(configs, has_gap)}
    for config in configs:
        if not has_gap(config):
            continue
        steps, mean, low, high = _band(config)
        optimum, floor = config.optimal_elbo, rounding(config)
        gap, lower, upper = optimum - mean, optimum - high, optimum - low
        shown = gap > floor
        ax.plot(steps[shown], gap[shown], color=colour[id(config)], lw=1.4)
        band = np.maximum(lower, floor), np.maximum(upper, floor)
        ax.fill_between(steps, *band, color=colour[id(config)], alpha=0.2, lw=0)
        floors.append(floor)
        if id(config) in fitted:
            tops += [v for v in upper if np.isfinite(v)]
            lows += [v for v in lower[len(lower) // 2 :] if np.isfinite(v) and v > floor]
    ax.set_yscale("log")
    if tops:
        low = min(lows) / 1.5 if lows else min(floors)
        ax.set_ylim(max(low, min(floors)), max(max(tops) * 1.5, low * 10))
    _finish(ax, "gap to the best mean-field ELBO (log axis): mean and 5–95% band", "best − ELBO (nats)")


def _finish(ax: Axes, title: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


#: The panels, by the name the figure lists them under, and whether a configuration has what each draws.
PANELS = {"elbo/value": (elbo_panel, has_elbo), "elbo/gap": (gap_panel, has_gap)}


def elbo_panels(configs: Sequence[ConfigCurves]) -> list[str]:
    """The names of ``PANELS`` that some configuration has something to draw in."""
    return [name for name, (_, check) in PANELS.items() if any(check(c) for c in configs)]
