"""Everything written to TensorBoard: the layout, the per-step scalars and the hparams entry."""

from __future__ import annotations

import math
from typing import Any, Mapping

from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

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


def open_writer(run_dir: str) -> SummaryWriter:
    writer = SummaryWriter(log_dir=run_dir)
    writer.add_custom_scalars(LAYOUT)
    return writer


def log_step(writer: SummaryWriter, step: int, scalars: Mapping[str, Tensor | None], terms: Tensor) -> None:
    """Write one step's scalars and the per-sample terms' histogram.

    Absent closed forms (None) are skipped, and so is a value that overflowed float32 (say, the
    score function's variance near the divergence bound): no inf or NaN reaches a plot.
    """
    for tag, value in scalars.items():
        if value is not None and math.isfinite(value := float(value)):
            writer.add_scalar(tag, value, step)
    writer.add_histogram("grad/per_sample_terms", terms, step)


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
