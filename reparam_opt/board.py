"""Everything written to TensorBoard: the layout, the per-step scalars and the hparams entry."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
from tensorboard.compat.proto.summary_pb2 import Summary
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

#: Equal-width buckets of the per-sample histogram (TensorBoard re-bins to 30 for display).
HISTOGRAM_BINS = 64

#: The histogram is of every k-th term, k chosen so that at most this many are binned.
HISTOGRAM_MAX_TERMS = 1 << 16

#: Custom Scalars dashboard: θ as a mean with a 5%–95% band, variance beside its closed form.
LAYOUT = {
    "theta": {
        "theta: mean with q05-q95 band": ["Margin", ["theta/mean", "theta/q05", "theta/q95"]],
        "theta: replicate 0 and mean": ["Multiline", ["theta/replicate0", "theta/mean"]],
        "theta: RMS error": ["Multiline", ["theta/rms_error"]],
    },
    "gradient": {
        "variance: in-step estimate vs closed form": [
            "Multiline",
            ["grad/variance", "grad/variance_analytic"],
        ],
        "mean estimate vs exact gradient": ["Multiline", ["grad/mean", "grad/exact"]],
    },
}


#: Events the writer's thread may hold before ``add_*`` blocks. torch's default of 10 makes the
#: loop wait on that thread (which checksums events in pure Python) at every few logged steps.
WRITER_QUEUE = 4096


def open_writer(run_dir: str) -> SummaryWriter:
    """A writer into ``run_dir`` that holds the Custom Scalars layout."""
    writer = SummaryWriter(log_dir=run_dir, max_queue=WRITER_QUEUE)
    writer.add_custom_scalars(LAYOUT)
    return writer


def scalar_table(scalars: Mapping[str, Tensor | None]) -> tuple[list[str], list[list[float]]]:
    """Tags with a value (None: no closed form) and one row of floats per step, in one host copy."""
    tags = [tag for tag, value in scalars.items() if value is not None]
    return tags, torch.stack([scalars[tag] for tag in tags], dim=-1).tolist()


def log_scalars(writer: SummaryWriter, step: int, tags: Sequence[str], values: Sequence[float]) -> None:
    """One step's scalars as one Summary: one event to serialise and checksum, not one per tag.

    A value that overflowed float32 (say, the score function's variance near the divergence
    bound) is skipped, like an absent closed form: no inf or NaN reaches a plot.
    """
    summary = Summary(value=[Summary.Value(tag=tag, simple_value=v)
                             for tag, v in zip(tags, values) if math.isfinite(v)])
    writer.file_writer.add_summary(summary, step)


def histogram_of(terms: Tensor) -> dict[str, Any]:
    """The arguments of ``add_histogram_raw`` for the per-sample terms (at most ``HISTOGRAM_MAX_TERMS``, evenly strided).

    ``add_histogram`` would copy every term to numpy and search ~1500 exponential bucket edges
    per value, ~100 ms for 10⁶ terms; equal-width ``torch.histc`` buckets of a 2¹⁶ subsample
    cost well under a millisecond, stay on the terms' device, and look the same in the dashboard.
    """
    flat = terms.detach().flatten()
    flat = flat[:: -(-flat.numel() // HISTOGRAM_MAX_TERMS)]
    low, high, total, squares = torch.stack(
        [flat.min(), flat.max(), flat.sum(), torch.linalg.vector_norm(flat).square()]).tolist()
    if low == high or not (math.isfinite(low) and math.isfinite(high)):
        limits, counts = [high], [flat.numel()]
    else:
        counts = torch.histc(flat, bins=HISTOGRAM_BINS, min=low, max=high).tolist()
        limits = torch.linspace(low, high, HISTOGRAM_BINS + 1)[1:].tolist()
    return {"min": low, "max": high, "num": flat.numel(), "sum": total, "sum_squares": squares,
            "bucket_limits": limits, "bucket_counts": counts}


def log_histogram(writer: SummaryWriter, step: int, histogram: Mapping[str, Any],
                  tag: str = "grad/per_sample_terms") -> None:
    """Write a histogram made by ``histogram_of``."""
    writer.add_histogram_raw(tag, global_step=step, **histogram)


def log_hparams(writer: SummaryWriter, config: Mapping[str, Any], metrics: Mapping[str, Any], step: int) -> None:
    """The hparams entry, written into this run's own event file.

    ``SummaryWriter.add_hparams`` would open a second writer in a sub-directory, which
    TensorBoard shows as a separate run; writing the three summaries here keeps one run.
    The metric values are logged as scalars ``metrics/<name>``, where the hparams dashboard
    looks them up. A metric that is None (say, tolerance never reached) is left blank.
    """
    numeric = {f"metrics/{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    hparam_values = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in config.items()}
    for summary in hparams(hparam_values, numeric):
        writer.file_writer.add_summary(summary, step)
    for tag, value in numeric.items():
        writer.add_scalar(tag, value, step)
