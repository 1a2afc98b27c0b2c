"""What a training run will hold in memory at once, checked against what the machine has, before any work.

A run holds three things besides the interpreter and torch, which are resident before it starts:

- **one step's temporaries**: the draws, f, the per-sample terms and what autograd keeps, for the
  largest chunk of rows a step is made in (``chunks.step_bounds``; the whole step for an
  estimator that cannot be chunked), at a cost per term the family measured
  (``Family.bytes_per_term``);
- **θ's state**: the parameter rows, their gradient, the optimizer's buffers, the divergence
  mask, and the tracker's per-replicate values (``STATE_VALUES_PER_PARAMETER`` floats each);
- **the histories**: ``metrics.History``'s three buffers of a block of steps, and the tracker's
  one RMS error per step.

The check compares the sum with what is available now: MemAvailable from /proc/meminfo, or less
under a cgroup memory limit (a container, a Slurm job), on the CPU; ``torch.cuda.mem_get_info``'s
free memory on a CUDA device. A run that will not fit is refused in one line that says how much
it needs, how much there is and which key to lower. Where none of this can be read (no /proc,
say on macOS), no check is made. tests/test_resources.py holds the estimate against the peak RSS
of real runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.errors import CompactHydraException

from reparam_opt.estimators import Estimator
from reparam_opt.training.chunks import step_bounds

#: A step's draws, [rows, n, D] float32, of at least this many values (32 MiB) are mapped and
#: unmapped whole by glibc under ``runtime.keep_freed_memory``, as train.py sets it; smaller ones
#: come from the heap, which keeps what it frees and, split by the step's other temporaries,
#: peaks about twice as high per term.
LARGE_DRAWS = 1 << 23

#: Peak bytes of a step per per-sample term (replicates × n × P of them) are the family's
#: (``Family.bytes_per_term``), with small draws and with large ones: the peak RSS of
#: ``train.py steps=2`` less that of the same run at n_samples=2, over the terms, the largest seen
#: over D = 1, 2, 4 and every scale, rounded up. The measurements are in docs/performance.md,
#: "Memory".

#: Floats per parameter of θ's own state: θ, its gradient, the optimizer's buffers (up to two,
#: for Adam), the step's estimate and in-step variance, the tracker's θ₀ and previous θ, the
#: masked update's copy.
STATE_VALUES_PER_PARAMETER = 12

GIB = float(1 << 30)


class ResourceError(CompactHydraException, MemoryError):
    """A run that will not fit in the memory available; Hydra prints it as one line."""


@dataclass(frozen=True)
class Footprint:
    """What a run will hold at once, in bytes, and what it is made of."""

    step: float
    state: float
    #: Samples (rows × n) in the largest chunk a step is made in.
    chunk_samples: int
    #: Whether a step is made in chunks (False: the estimator takes its step whole).
    chunks: bool
    #: Rows in that chunk.
    chunk_rows: int

    @property
    def total(self) -> float:
        return self.step + self.state


def footprint(
    estimator: Estimator,
    family: Any,
    replicates: int,
    n_samples: int,
    steps: int,
    max_elements: int,
    variance_draws: int = 0,
    learned_control: bool = False,
) -> Footprint:
    """The estimate for one run: a step's largest chunk of terms and θ's state with its histories."""
    draws = n_samples if n_samples > 1 or not variance_draws else max(n_samples, variance_draws)
    dim, params = family.dim, family.params
    if estimator.chunks:
        bounds = step_bounds(replicates, draws, dim, params, max_elements)
        rows = max(stop - start for start, stop in zip(bounds[:-1], bounds[1:]))
    else:
        rows = replicates
    values = replicates * params
    history = 3 * max(values, min(1024 * values, 1 << 18))  # metrics.History's buffers
    state = 4 * (STATE_VALUES_PER_PARAMETER * values + history + steps + 1)
    samples = rows * (draws + estimator.extra_samples)  # a control variate's extra draws too
    large = samples * dim >= LARGE_DRAWS
    step = samples * params * family.bytes_per_term(estimator, large, learned_control) * estimator.terms_held
    return Footprint(step, state, samples, estimator.chunks, rows)


def available(device: str) -> tuple[float, str] | None:
    """Bytes available to this run now, and where the figure comes from; None if it cannot be read."""
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return float(free), f"free on {device}"
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in meminfo.splitlines() if ":" in line)
    if "MemAvailable" not in fields:
        return None
    free, source = 1024.0 * int(fields["MemAvailable"].split()[0]), "MemAvailable"
    limit = cgroup_room()
    if limit is not None and limit < free:
        free, source = limit, "under this cgroup's memory.max"
    return free, source


def cgroup_room() -> float | None:
    """memory.max less memory.current for this process's cgroup (v2), or None without a limit."""
    try:
        line = Path("/proc/self/cgroup").read_text().splitlines()[0]
        group = Path("/sys/fs/cgroup") / line.split("::", 1)[1].lstrip("/")
        limit = (group / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return float(int(limit) - int((group / "memory.current").read_text()))
    except (OSError, IndexError, ValueError):
        return None


def key_to_lower(fp: Footprint, estimator: Estimator) -> str:
    """Which key brings the footprint down: the one that sizes its bigger part."""
    if fp.state > fp.step:
        return "replicates (or steps)"
    if not fp.chunks:
        return f"n_samples or replicates (estimator={estimator.name} makes each step whole)"
    if fp.chunk_rows > 1:
        return "max_batch_elements"
    return "n_samples (a chunk holds at least one replicate's n_samples terms)"


def check_memory(fp: Footprint, estimator: Estimator, device: str) -> None:
    """Refuse, in one line, a run whose footprint exceeds the memory available."""
    room = available(device)
    if room is None or fp.total <= room[0]:
        return
    free, source = room
    raise ResourceError(
        f"not enough memory: this run needs about {gib(fp.total)} at once (a step of {fp.chunk_samples:,} "
        f"samples at {fp.step / max(fp.chunk_samples, 1):.0f} bytes each, and "
        f"{gib(fp.state)} for θ and its histories) but {gib(free)} is available ({source}); "
        f"lower {key_to_lower(fp, estimator)}"
    )


def gib(size: float) -> str:
    """A size in GiB (MiB under one GiB), three figures, no exponent."""
    value, unit = (size / GIB, "GiB") if size >= GIB else (size / (1 << 20), "MiB")
    return f"{value:.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"
