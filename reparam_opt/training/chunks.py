"""A step's estimate made a chunk of whole replicate rows at a time, so that memory stays bounded.

The loop needs three things from a step's per-sample terms [replicates, n, P]: their mean over
the samples (the estimate), at logged steps their in-step variance, and at histogram steps a
strided subsample. All three are per replicate row, so a step too big to hold at once is made
in chunks of rows, each chunk's terms reduced and freed before the next is drawn.

The result is the same whatever the chunk size, for three reasons:

- the chunks draw the next rows of the same random stream: torch's CPU normal sampler fills a
  tensor in blocks of ``RNG_BLOCK`` values (a tensor of fewer takes another path), so every chunk
  but the last holds a multiple of that many draws, and the last at least that many
  (``chunk_bounds``);
- a chunk's reductions run on one thread. torch reduces a batch of two or more rows one row at
  a time, in the same order on any thread, but a single row, or a few long ones, split across
  threads, which sums in another order; on one thread every chunk sums as the whole batch does;
- the histogram's subsample is the same elements: every k-th term of the whole step, counted
  from the step's first term (``histogram_of``'s stride), picked chunk by chunk.

Elementwise arithmetic is exact on any split, so for the Gaussian estimators on polynomial costs
the numbers are bit-identical. Where an estimator or a cost applies a transcendental function
(sigmoid, log, exp, cos), torch's vectorised and scalar code may round the last bit differently
at a chunk's edges, so such runs agree to rounding. The CUDA sampler numbers its draws by
offset, not in blocks, so there the chunk size changes the draws. Estimators that draw more than
once per call or learn from a whole step (``Estimator.chunks``) take their step whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor

#: torch's CPU normal sampler fills a tensor in blocks of this many values; see ``chunk_bounds``.
RNG_BLOCK = 16

#: The histogram is of every k-th term, k chosen so that at most this many are binned.
HISTOGRAM_MAX_TERMS = 1 << 16


def chunk_bounds(repetitions: int, n: int, chunk_elements: int) -> list[int]:
    """Row boundaries of the chunks: each holds a multiple of RNG_BLOCK draws, the last at least RNG_BLOCK.

    ``n`` draws per row. torch's CPU sampler draws a tensor's normals in blocks of 16 from
    consecutive uniforms, so a run of such chunks consumes the random stream exactly as one tensor
    of all the rows would (tests/test_variance.py and tests/test_chunks.py check it). A chunk
    holds at least one block's worth of rows, so when n is odd it holds at least 16 rows.
    """
    rows_per_block = RNG_BLOCK // math.gcd(n, RNG_BLOCK)
    per_chunk = max(rows_per_block, (chunk_elements // n) // rows_per_block * rows_per_block)
    starts = list(range(0, repetitions, per_chunk))
    if len(starts) > 1 and (repetitions - starts[-1]) * n < RNG_BLOCK:
        starts.pop()  # a tail under one block would take torch's one-at-a-time path: merge it
    return [*starts, repetitions]


def step_bounds(replicates: int, n: int, draws_per_sample: int, params: int, max_elements: int) -> list[int]:
    """The row chunks of a training step that holds at most ``max_elements`` terms (n × P per row) at once.

    The budget is in terms; the block rule is in draws (n × D per row); a chunk is at least one row.
    """
    rows = max(1, max_elements // (n * params))
    if rows >= replicates:
        return [0, replicates]
    return chunk_bounds(replicates, n * draws_per_sample, rows * n * draws_per_sample)


def stride(terms: int) -> int:
    """The histogram's stride over ``terms`` terms: every k-th, at most HISTOGRAM_MAX_TERMS of them."""
    return -(-terms // HISTOGRAM_MAX_TERMS)


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread inside, as it was outside afterwards: reductions that sum in one order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass
class StepEstimate:
    """One step's estimate per replicate row, and what the recorder may need of its terms.

    A step made whole keeps its ``terms``, and the in-step variance and the histogram come from
    them on demand. A step made in chunks has them already: ``variance`` at a logged step and the
    histogram's subsample per tag (``samples``: the values, the row each came from, the stride).
    """

    #: The estimator's ``variance_of_mean``: the in-step variance from the terms and their mean.
    variance_of_mean: Callable[[Tensor, Tensor | None], Tensor]
    #: The terms' mean over the samples, [replicates, P]: the estimate of ∇E_q[f].
    grad: Tensor
    terms: Tensor | None = None
    variance: Tensor | None = None
    #: Per tag: the subsample's values, the row each came from, and the stride it was taken at.
    samples: dict[str, tuple[Tensor, Tensor, int]] = field(default_factory=dict)

    def in_step_variance(self) -> Tensor | None:
        """Per replicate and parameter, the in-step estimate of Var(estimate); None for n = 1."""
        if self.terms is not None and self.variance is None and self.terms.shape[-2] > 1:
            self.variance = self.variance_of_mean(self.terms, self.grad)
        return self.variance

    def histogram_samples(self, parts: dict[str, slice], alive: Tensor | None) -> dict[str, Tensor]:
        """Every k-th term of each part (tag → columns) over the live rows (``alive``; None: all)."""
        if self.terms is not None:
            terms = self.terms if alive is None else self.terms[alive]
            parts_of = {tag: terms[..., columns].detach().flatten() for tag, columns in parts.items()}
            return {tag: flat[:: stride(flat.numel())] for tag, flat in parts_of.items()}
        return {
            tag: _as_strided_view(values if alive is None else values[alive[rows]], every)
            for tag, (values, rows, every) in self.samples.items()
        }


def _as_strided_view(values: Tensor, every: int) -> Tensor:
    """``values`` laid out as every-k-th-term views are (for k > 1): torch sums a strided view in
    another order than a contiguous tensor, so the histogram's sums would differ in the last bit."""
    if every == 1:
        return values
    spaced = values.new_empty(len(values), 2)
    spaced[:, 0] = values
    return spaced[:, 0]


@dataclass(frozen=True)
class Wants:
    """What the recorder will want of a step's terms, known before they are drawn."""

    #: The in-step variance: the step is logged (and n > 1).
    variance: bool = False
    #: The histogram's tags and their columns of the terms; empty: the step has no histogram.
    parts: dict[str, slice] = field(default_factory=dict)
    #: The rows alive before the step (None: all), over which the histogram strides.
    alive: Tensor | None = None


def estimate_in_chunks(
    terms_of: Callable[[int, int], Tensor],
    bounds: list[int],
    variance_of_mean: Callable[[Tensor, Tensor | None], Tensor],
    wants: Wants,
    like: Tensor,
    n: int,
) -> StepEstimate:
    """The step's estimate from ``terms_of(start, stop)``, the n-sample terms of rows [start, stop),
    chunk by chunk; ``like`` is θ [replicates, P], whose shape, dtype and device the estimate takes.

    Every output is allocated before the first chunk: a small tensor made while a chunk's
    temporaries are alive would outlive them in the middle of the heap they free, and the next
    chunk's would not fit there. A row that dies at this step leaves the histogram's subsample
    afterwards (``StepEstimate.histogram_samples``), the one thing a chunk size can then change.
    """
    grad = torch.empty_like(like)
    variance = torch.empty_like(like) if wants.variance and n > 1 else None
    alive = wants.alive
    live_total = bounds[-1] if alive is None else int(alive.sum())
    picks = {
        tag: _Picks.allocate(live_total * n * (c.stop - c.start), like) for tag, c in wants.parts.items()
    }
    live_before = 0  # live rows before the chunk: where its terms start among the step's
    for start, stop in zip(bounds[:-1], bounds[1:]):
        chunk = slice(start, stop)
        live_before += _reduce(
            terms_of(start, stop), chunk, grad, variance, variance_of_mean, wants, picks, live_before
        )
    samples = {tag: (p.values, p.rows, p.every) for tag, p in picks.items()}
    return StepEstimate(variance_of_mean, grad, variance=variance, samples=samples)


@dataclass
class _Picks:
    """The histogram's subsample of one tag, filled chunk by chunk: every ``every``-th term."""

    values: Tensor
    rows: Tensor
    every: int
    filled: int = 0

    @classmethod
    def allocate(cls, terms: int, like: Tensor) -> _Picks:
        every = stride(terms)
        count = -(-terms // every)
        return cls(like.new_empty(count), torch.empty(count, dtype=torch.long, device=like.device), every)


def _reduce(
    terms: Tensor,
    chunk: slice,
    grad: Tensor,
    variance: Tensor | None,
    variance_of_mean: Callable[[Tensor, Tensor | None], Tensor],
    wants: Wants,
    picks: dict[str, _Picks],
    live_before: int,
) -> int:
    """One chunk's mean, in-step variance and histogram picks into the step's buffers; returns its
    live rows. Everything it makes is freed when it returns, before the next chunk is drawn."""
    terms = terms.detach()
    with one_thread():
        torch.mean(terms, dim=-2, out=grad[chunk])
        if variance is not None:
            variance[chunk] = variance_of_mean(terms, grad[chunk])
    rows = torch.arange(chunk.start, chunk.stop, device=terms.device)
    if wants.alive is not None:
        rows = rows[wants.alive[chunk]]
        terms = terms[wants.alive[chunk]]
    for tag, columns in wants.parts.items():
        part, pick = terms[..., columns], picks[tag]
        per_row = part.shape[-2] * part.shape[-1]
        index = torch.arange(
            (-live_before * per_row) % pick.every, part.numel(), pick.every, device=terms.device
        )
        taken = slice(pick.filled, pick.filled + len(index))
        pick.values[taken] = part.flatten()[index]
        pick.rows[taken] = rows[index // per_row]
        pick.filled += len(index)
    return len(rows)
