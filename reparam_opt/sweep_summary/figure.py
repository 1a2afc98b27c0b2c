"""The sweep's comparison figure (matplotlib, Agg): θ's spread per estimator, its RMS error, and its noise.

Panels, each over the steps, every series a median over a configuration's seeds:

- one per estimator (or per value of the first swept key): θ's mean across replicates with its
  5–95% band, one shade per value of the other swept keys, and the exact-gradient run as a
  dashed line where the sweep has one, so that the estimators' spreads sit side by side on one
  θ axis;
- the RMS error of θ on a log axis, every configuration;
- the in-step variance of the gradient estimate on a log axis, where some configuration logged
  one (n ≥ 2), and the share of replicates diverged, where some replicate did. A sweep with
  neither gets no such panel: no panel is ever empty;
- a learned σ's mean and 5–95% band on a log axis, with its predicted path dotted, where some
  configuration learned σ;
- for the Bernoulli family (no θ*: θ → −∞), the exact loss J(θ) in place of the RMS error, and
  the log variance of one sample's estimate (RELAX Fig. 1) in place of the in-step variance,
  beside its closed form (dotted) where the estimator has one. The measured line breaks where
  every sample variance of a step was 0 (a leave-one-out baseline once b is almost always 0)
  rather than joining the rare steps that saw both outcomes;
- where J is −ELBO, the exact ELBO with the best mean-field ELBO, and its gap to it on a log axis
  (``elbo_panel``).

Every y axis is fitted to what did not diverge (``axis_limits``): a configuration that lost most of
its replicates is drawn, but leaves the axis rather than flattening the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files and TensorBoard only; never a window
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from reparam_opt.sweep_summary.axis_limits import LOG_VISIBLE, band_limits, left_out, log_limits
from reparam_opt.sweep_summary.elbo_panel import PANELS as ELBO_PANELS
from reparam_opt.sweep_summary.elbo_panel import elbo_panels
from reparam_opt.sweep_summary.jobs import ConfigCurves

FAMILIES = ("Oranges", "Blues", "Greys", "Greens", "Purples", "Reds")
KNOWN = {"score": "Oranges", "pathwise": "Blues", "exact": "Greys"}

#: The hue drawn as a reference line in every θ panel rather than in a panel of its own.
REFERENCE = "exact"

#: Beyond this many hues, the θ bands share one panel.
MAX_THETA_PANELS = 4


def line_colours(configs: Sequence[ConfigCurves]) -> list[tuple]:
    """A colour family per hue (estimator), darker for later values of the other keys; beyond as
    many hues as there are families, one distinct colour per hue (``exact`` black)."""
    hues = list(dict.fromkeys(c.hue for c in configs))
    if len(hues) > len(FAMILIES):
        palette = plt.get_cmap("tab10").colors
        distinct = {h: palette[i % len(palette)] for i, h in enumerate(h for h in hues if h != REFERENCE)}
        return [(0.0, 0.0, 0.0, 1.0) if c.hue == REFERENCE else distinct[c.hue] for c in configs]
    family = {h: KNOWN.get(h, FAMILIES[(3 + i) % len(FAMILIES)]) for i, h in enumerate(hues)}
    return [plt.get_cmap(family[c.hue])(0.4 + 0.55 * c.shade) for c in configs]


def comparison_figure(configs: Sequence[ConfigCurves], title: str) -> Figure:
    """The panels of the module docstring, two or three to a row, with one legend of configurations."""
    colour = dict(zip((id(c) for c in configs), line_colours(configs)))
    hues = list(dict.fromkeys(c.hue for c in configs if c.hue != REFERENCE))
    groups = (
        [[c for c in configs if c.hue == h] for h in hues]
        if len(hues) <= MAX_THETA_PANELS
        else [[c for c in configs if c.hue != REFERENCE]]
    )
    reference = [c for c in configs if c.hue == REFERENCE]
    discrete = any("prob/mean" in c.series for c in configs)
    extra = [
        tag
        for tag in ("grad/variance", "theta/diverged", "scale/mean")
        if any(_positive(c, tag) for c in configs) and not (discrete and tag == "grad/variance")
    ]
    if discrete and any("grad/log_variance" in c.series for c in configs):
        extra.insert(0, "grad/log_variance")
    extra += elbo_panels(configs)
    panels = len(groups) + 1 + len(extra)
    columns = 2 if panels <= 4 else 3
    rows = math.ceil(panels / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(6.2 * columns, 4.2 * rows), layout="constrained", squeeze=False
    )
    axes = list(axes.flat)
    for ax in axes[panels:]:
        ax.remove()

    theta_axes = axes[: len(groups)]
    for ax, group in zip(theta_axes, groups):
        _theta_panel(ax, group, reference, colour)
    limits = band_limits(configs)  # fitted to the configurations that did not diverge
    for ax in theta_axes:  # one θ scale, so the spreads compare at a glance
        ax.set_ylim(*limits or ax.get_ylim())
    outside = set(left_out(configs))
    for ax, group in zip(theta_axes, groups):
        _note(ax, "most replicates diverged, off this axis:", [c.label for c in group if c.label in outside])

    rms = axes[len(groups)]
    tolerances = {c.tolerance for c in configs}
    tolerance = tolerances.pop() if len(tolerances) == 1 and not discrete else None
    if discrete:
        _line_panel(rms, configs, colour, "objective/mean", "exact loss J(θ), mean over replicates", "J(θ)")
    else:
        _log_panel(
            rms,
            configs,
            colour,
            "theta/rms_error",
            "RMS error of θ over replicates (log axis)",
            "RMS of θ − θ*",
            keep=tolerance,
        )
    if tolerance is not None:
        line = rms.axhline(tolerance, color="0.3", lw=0.8, ls=":", label="tolerance")
        rms.legend(handles=[line], fontsize=8, loc="upper right")
    for ax, tag in zip(axes[len(groups) + 1 :], extra):
        if tag == "grad/variance":
            _log_panel(
                ax,
                configs,
                colour,
                tag,
                "in-step variance of the gradient estimate (log axis)",
                "variance of the n-sample estimate",
            )
        elif tag == "scale/mean":
            _sigma_panel(ax, configs, colour)
        elif tag == "grad/log_variance":
            _log_variance_panel(ax, configs, colour)
        elif tag in ELBO_PANELS:
            ELBO_PANELS[tag][0](ax, configs, colour)
        else:
            _line_panel(
                ax,
                configs,
                colour,
                tag,
                "replicates diverged (|θ| > 10⁶, not finite, or σ = 0 or ∞)"
                if any("scale/mean" in c.series for c in configs)
                else "replicates diverged (|θ| > 10⁶ or not finite)",
                "% of replicates",
            )
    handles = [Line2D([], [], color=colour[id(c)], lw=1.4, label=c.label) for c in configs]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, title="configuration")
    fig.suptitle(title)
    return fig


def _positive(config: ConfigCurves, tag: str) -> bool:
    values = config.series.get(tag, (None, np.array([])))[1]
    return bool(np.any(values > 0))


def _mean_and_band(ax: Axes, config: ConfigCurves, prefix: str, colour: tuple, alpha: float) -> None:
    """``prefix``/mean as a line and its ``q05``–``q95`` band, where they were logged."""
    steps, mean = config.series[f"{prefix}/mean"]
    ax.plot(steps, mean, color=colour, lw=1.4)
    if f"{prefix}/q05" in config.series and f"{prefix}/q95" in config.series:
        low, high = config.series[f"{prefix}/q05"][1], config.series[f"{prefix}/q95"][1]
        ax.fill_between(steps, low, high, color=colour, alpha=alpha, lw=0)


def _theta_panel(ax: Axes, group: list[ConfigCurves], reference: list[ConfigCurves], colour: dict) -> None:
    """θ's mean and 5–95% band for each configuration of one hue, and the reference run's mean."""
    for config in group:
        if "theta/mean" not in config.series:
            continue
        _mean_and_band(ax, config, "theta", colour[id(config)], alpha=0.25)
    for config in reference[:1]:  # the exact run does not depend on the other swept keys
        if "theta/mean" in config.series:
            ax.plot(*config.series["theta/mean"], color="black", lw=1.0, ls="--", label="exact gradient")
    ax.axhline(0.0, color="0.6", lw=0.6)
    hues = list(dict.fromkeys(c.hue for c in group))
    names = ", ".join(hues) if len(hues) <= 3 else f"{len(hues)} configurations"
    ax.set_title(f"θ with {names or 'all jobs'}: mean and 5–95% band across replicates", fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel("θ")
    ax.grid(True, alpha=0.3)
    if reference:
        ax.legend(fontsize=8, loc="upper right")


def _log_panel(
    ax: Axes,
    configs: Sequence[ConfigCurves],
    colour: dict,
    tag: str,
    title: str,
    ylabel: str,
    keep: float | None = None,
) -> None:
    """Every configuration's ``tag`` on a log axis fitted to what did not diverge (``log_limits``),
    holding ``keep`` (the tolerance); series with nothing positive are listed, not drawn."""
    absent = []
    for config in configs:
        steps, values = config.series.get(tag, (np.array([]), np.array([])))
        drawn = values > LOG_VISIBLE
        if not np.any(drawn):
            absent.append(config.label)
            continue
        ax.plot(steps[drawn], values[drawn], color=colour[id(config)], lw=1.4, label=config.label)
    ax.set_yscale("log")
    limits = log_limits(configs, tag, keep)
    if limits is not None:
        ax.set_ylim(*limits)
    _note(ax, "not shown (zero, or n_samples = 1):", absent)
    _finish(ax, title, ylabel)


def _note(ax: Axes, heading: str, labels: list[str]) -> None:
    """A small note in the panel's lower left corner naming configurations, if there are any."""
    if labels:
        text = "\n".join([heading, *labels])
        box = {"facecolor": "white", "alpha": 0.8, "edgecolor": "none"}  # legible over a band
        ax.text(0.02, 0.02, text, transform=ax.transAxes, fontsize=7, va="bottom", color="0.35", bbox=box)


def _sigma_panel(ax: Axes, configs: Sequence[ConfigCurves], colour: dict) -> None:
    """A learned σ: mean and 5–95% band per configuration, its prediction dotted (log axis)."""
    predicted = False
    for config in configs:
        if "scale/mean" not in config.series:
            continue
        _mean_and_band(ax, config, "scale", colour[id(config)], alpha=0.2)
        if config.sigma_prediction is not None:
            ax.plot(*config.sigma_prediction, color="black", lw=0.9, ls=":")
            predicted = True
    ax.set_yscale("log")
    limits = band_limits(configs, "scale", log=True)
    if limits is not None:
        ax.set_ylim(*limits)
    if predicted:
        ax.legend(handles=[Line2D([], [], color="black", ls=":", label="predicted")], fontsize=8)
    _finish(ax, "learned σ: mean and 5–95% band across replicates (log axis)", "σ")


def _log_variance_panel(ax: Axes, configs: Sequence[ConfigCurves], colour: dict) -> None:
    """ln of one sample's variance, measured (solid, broken where it was ln 0) and in closed form
    (dotted), where a configuration has one."""
    closed = False
    for config in configs:
        if "grad/log_variance" in config.series:
            steps, values = config.series["grad/log_variance"]
            ax.plot(steps, np.where(np.isfinite(values), values, np.nan), color=colour[id(config)], lw=1.4)
        if "grad/log_variance_analytic" in config.series:
            ax.plot(*config.series["grad/log_variance_analytic"], color=colour[id(config)], lw=1.0, ls=":")
            closed = True
    if closed:
        handles = [
            Line2D([], [], color="0.3", lw=1.4, label="measured (gaps: every sample variance was 0)"),
            Line2D([], [], color="0.3", lw=1.0, ls=":", label="closed form"),
        ]
        ax.legend(handles=handles, fontsize=8, loc="lower left")
    _finish(ax, "log variance of one sample's gradient estimate", "ln variance")


def _line_panel(
    ax: Axes, configs: Sequence[ConfigCurves], colour: dict, tag: str, title: str, ylabel: str
) -> None:
    for config in configs:
        if tag in config.series:
            ax.plot(*config.series[tag], color=colour[id(config)], lw=1.4, label=config.label)
    _finish(ax, title, ylabel)


def _finish(ax: Axes, title: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
