"""Everything a run writes to TensorBoard: the family's layout, the per-step scalars, the histogram, the
hparams entry.

While every replicate is alive, a logged step's θ, estimate and in-step variance wait in the
run's ``metrics.History``; ``StepLog.write_rows`` computes the scalars of all its logged steps
together and writes them, merged in step order with the histograms held meanwhile. Per logged
step that is three row copies instead of some thirty small tensor operations. A step with
diverged replicates is computed and written at once (``StepLog.write_step``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import torch
from tensorboard.compat.proto.summary_pb2 import Summary
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from reparam_opt.training.metrics import History
from reparam_opt.training.scalars import StepScalars

#: Equal-width buckets of the per-sample histogram (TensorBoard re-bins to 30 for display).
HISTOGRAM_BINS = 64

#: Events the writer's thread may hold before ``add_*`` blocks. torch's default of 10 makes the
#: loop wait on that thread (which checksums events in pure Python) at every few logged steps.
WRITER_QUEUE = 4096


def fitted_layout(layout: Mapping[str, Mapping[str, list]], tags: set[str]) -> dict[str, dict[str, list]]:
    """A family's Custom Scalars page with only what the run writes: a line whose tag it does not
    write is dropped, and with it a chart left empty, a band short of one of its three lines, and a
    category left without a chart. No chart on the page is ever empty."""
    page: dict[str, dict[str, list]] = {}
    for category, charts in layout.items():
        kept = {}
        for title, (kind, chart_tags) in charts.items():
            written = [tag for tag in chart_tags if tag in tags]
            if written and (kind != "Margin" or len(written) == len(chart_tags)):
                kept[title] = [kind, written]
        if kept:
            page[category] = kept
    return page


def open_writer(run_dir: str, layout: Mapping[str, Mapping[str, list]] | None = None) -> SummaryWriter:
    """A writer into ``run_dir`` that holds the run's Custom Scalars page, if it is given one."""
    writer = SummaryWriter(log_dir=run_dir, max_queue=WRITER_QUEUE)
    if layout:
        writer.add_custom_scalars(dict(layout))
    return writer


@contextmanager
def event_file(
    run_dir: str, layout: Mapping[str, Mapping[str, list]] | None = None
) -> Iterator[SummaryWriter]:
    """The run's writer (``open_writer``), closed on the way out, with its faults in one line.

    torch's writer thread writes the event file; a write that fails there (a full disk, a
    vanished directory) is raised again at the run's next ``add_*`` or ``flush``, an OSError that
    names no file. It leaves here as an ``EventFileError`` that names the directory. Closing after
    another error never hides that error.
    """
    writer = open_writer(run_dir, layout)
    try:
        yield writer
    except BaseException as error:
        with suppress(OSError):
            writer.close()
        if isinstance(error, OSError) and error.filename is None:
            raise EventFileError(f"could not write the event file in {run_dir}: {error}") from error
        raise
    try:
        writer.close()
    except OSError as error:
        raise EventFileError(f"could not write the event file in {run_dir}: {error}") from error


class EventFileError(OSError):
    """A fault while writing the TensorBoard event file."""


def scalar_table(scalars: Mapping[str, Tensor | None]) -> tuple[list[str], list[list[float]]]:
    """Tags with a value (None: no closed form) and one row of floats per step, in one host copy."""
    tags = [tag for tag, value in scalars.items() if value is not None]
    return tags, torch.stack([scalars[tag] for tag in tags], dim=-1).tolist()


def log_scalars(writer: SummaryWriter, step: int, tags: Sequence[str], values: Sequence[float]) -> None:
    """One step's scalars as one Summary: one event to serialise and checksum, not one per tag.

    A value that overflowed float32 (say, the score function's variance near the divergence
    bound) is skipped, like an absent closed form: no inf or NaN reaches a plot.
    """
    summary = Summary(
        value=[Summary.Value(tag=tag, simple_value=v) for tag, v in zip(tags, values) if math.isfinite(v)]
    )
    writer.file_writer.add_summary(summary, step)


def histogram_of(sample: Tensor) -> dict[str, Any]:
    """The arguments of ``add_histogram_raw`` for a subsample of the per-sample terms.

    The subsample is every k-th term, at most ``chunks.HISTOGRAM_MAX_TERMS`` of them
    (``chunks.StepEstimate.histogram_samples``). ``add_histogram`` would copy every term to numpy
    and search ~1500 exponential bucket edges per value, which at 10⁶ terms costs more than the
    step itself; equal-width ``torch.histc`` buckets of a 2¹⁶ subsample are cheap, stay on the
    terms' device, and look the same in the dashboard.
    """
    flat = sample.detach()
    low, high, total, squares = torch.stack(
        [flat.min(), flat.max(), flat.sum(), torch.linalg.vector_norm(flat).square()]
    ).tolist()
    if low == high or not (math.isfinite(low) and math.isfinite(high)):
        limits, counts = [high], [flat.numel()]
    else:
        counts = torch.histc(flat, bins=HISTOGRAM_BINS, min=low, max=high).tolist()
        limits = torch.linspace(low, high, HISTOGRAM_BINS + 1)[1:].tolist()
    return {
        "min": low,
        "max": high,
        "num": flat.numel(),
        "sum": total,
        "sum_squares": squares,
        "bucket_limits": limits,
        "bucket_counts": counts,
    }


def log_histogram(
    writer: SummaryWriter, step: int, histogram: Mapping[str, Any], tag: str = "grad/per_sample_terms"
) -> None:
    """Write a histogram made by ``histogram_of``."""
    writer.add_histogram_raw(tag, global_step=step, **histogram)


def hparams_of(config: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """The config as the HParams table shows it: each group by its short name, then the other values.

    ``names`` gives the groups' short names (``{"estimator": "score", ...}``); a group's own keys
    follow as ``objective.k``. ``_target_`` and ``_partial_`` say nothing a reader can use and a
    null has no column value, so neither appears. summary.json keeps the whole config.
    """
    flat = {
        key: value
        for key, value in flatten(config).items()
        if value is not None and key.rsplit(".", 1)[-1] not in ("_target_", "_partial_")
    }
    return {
        **names,
        **{
            key: value if isinstance(value, (int, float, str, bool)) else str(value)
            for key, value in flat.items()
        },
    }


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config to dotted keys."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def log_hparams(
    writer: SummaryWriter, values: Mapping[str, Any], metrics: Mapping[str, Any], step: int
) -> None:
    """The hparams entry, written into this run's own event file.

    ``SummaryWriter.add_hparams`` would open a second writer in a sub-directory, which
    TensorBoard shows as a separate run; writing the three summaries here keeps one run.
    The metric values are logged as scalars ``metrics/<name>``, where the hparams dashboard
    looks them up. A metric that is None (say, tolerance never reached) is left blank.
    """
    numeric = {
        f"metrics/{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    for summary in hparams(dict(values), numeric):
        writer.file_writer.add_summary(summary, step)
    for tag, value in numeric.items():
        writer.add_scalar(tag, value, step)


class StepLog:
    """Logged steps' scalars and histograms on their way to TensorBoard, in step order."""

    def __init__(self, writer: SummaryWriter, scalars: StepScalars) -> None:
        self.writer, self.scalars = writer, scalars
        self.histograms: list[tuple[int, dict[str, Any], str]] = []

    def write_rows(self, history: History) -> None:
        """Compute the scalars of every logged step in ``history``; write them with the held histograms."""
        tags, table = [], []
        steps = history.logged_steps
        if steps:
            k = len(steps)
            theta = history.logged_theta()
            variance = None if history.variance is None else history.variance[:k]
            rows = self.scalars(
                theta, history.grad[:k], variance, theta[:, 0, 0], theta.new_zeros(k), history.loss[:k]
            )
            tags, table = scalar_table(rows)
        histograms = iter(self.histograms)
        pending = next(histograms, None)
        for step, values in zip(steps, table):
            while pending is not None and pending[0] < step:
                log_histogram(self.writer, *pending)
                pending = next(histograms, None)
            log_scalars(self.writer, step, tags, values)
        while pending is not None:
            log_histogram(self.writer, *pending)
            pending = next(histograms, None)
        self.histograms.clear()

    def write_step(
        self,
        step: int,
        theta: Tensor,
        grad: Tensor,
        alive: Tensor,
        variance: Tensor | None = None,
        loss: Tensor | None = None,
    ) -> None:
        """Compute and write one step's scalars over its live replicates (some have diverged)."""
        scalars = self.scalars.at_step(theta, grad, alive, variance, loss)
        tags, (values,) = scalar_table({t: None if v is None else v[None] for t, v in scalars.items()})
        log_scalars(self.writer, step, tags, values)

    def add_histogram(self, step: int, histogram: dict[str, Any], tag: str, hold: bool) -> None:
        """Write a histogram, or ``hold`` it until the scalars of earlier steps are written."""
        if hold:
            self.histograms.append((step, histogram, tag))
        else:
            log_histogram(self.writer, step, histogram, tag)
