"""A step made a chunk of replicate rows at a time gives the numbers of the step made whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from reparam_opt.estimators import ESTIMATORS
from reparam_opt.estimators.spec import sample_variance_of_mean
from reparam_opt.training import train
from reparam_opt.training.chunks import RNG_BLOCK, Wants, estimate_in_chunks, one_thread, step_bounds, stride
from reparam_opt.training.run import resolve
from tests.conftest import scalars
from tests.regression import run_fingerprint

#: Runs whose every TensorBoard series and summary.json must not depend on max_batch_elements:
#: each Gaussian estimator that chunks, with histograms, a learned scale, an entropy term, D > 1,
#: a cost with a transcendental function, and replicates that diverge.
IDENTICAL = {
    "pathwise": ["estimator=pathwise", "replicates=37", "n_samples=50", "steps=30", "histogram_every=3"],
    "score": ["estimator=score", "replicates=37", "n_samples=50", "steps=30", "histogram_every=3"],
    "score_baseline_dim3": ["estimator=score_baseline", "replicates=33", "n_samples=7", "steps=30", "dim=3"],
    "learned_scale": [
        "estimator=pathwise",
        "replicates=20",
        "n_samples=9",
        "steps=30",
        "dim=2",
        "scale=diagonal",
        "entropy_weight=1",
    ],
    "diverging": ["estimator=score", "n_samples=1", "theta0=6", "replicates=64", "steps=60"],
    "cosine": ["estimator=score", "replicates=40", "n_samples=5", "objective=cosine", "steps=30"],
    "exact": ["estimator=exact", "replicates=40", "n_samples=5", "steps=30"],
    "variance_draws": ["estimator=score", "replicates=64", "n_samples=1", "variance_draws=10", "steps=30"],
}


def fingerprint(cfg, run_dir: Path) -> dict:
    train(cfg, run_dir)
    found = run_fingerprint(run_dir)
    found["summary"]["config"].pop("max_batch_elements", None)  # dropped at its default
    return found


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(IDENTICAL))
def test_a_run_is_the_same_whatever_the_chunk_size(case: str, make_cfg, tmp_path: Path) -> None:
    overrides = IDENTICAL[case]
    whole = fingerprint(make_cfg(*overrides), tmp_path / "whole")
    for size in (1, 40):  # one block of rows per chunk; a few blocks per chunk
        cfg = make_cfg(*overrides, f"max_batch_elements={size}")
        assert len(resolve(cfg).chunk_bounds(cfg.n_samples)) > 2  # the step really is in chunks
        assert fingerprint(cfg, tmp_path / f"chunks_{size}") == whole  # every series, bit for bit


@pytest.mark.slow
def test_the_bernoulli_family_agrees_to_rounding(make_cfg, tmp_path: Path) -> None:
    """Its sigmoid and log round the last bit by code path, which a chunk's edges move."""
    overrides = ["family=bernoulli", "estimator=concrete", "replicates=40", "n_samples=3", "steps=100"]
    train(make_cfg(*overrides), tmp_path / "whole")
    train(make_cfg(*overrides, "max_batch_elements=1"), tmp_path / "chunks")
    whole, chunks = scalars(tmp_path / "whole"), scalars(tmp_path / "chunks")
    for tag in ("theta/mean", "grad/mean", "grad/variance"):
        for (step, a), (_, b) in zip(whole[tag], chunks[tag]):
            assert b == pytest.approx(a, rel=1e-5, abs=1e-7), (tag, step)


@pytest.mark.parametrize("name", ["measure_valued", "score_ema", "rebar", "relax"])
def test_estimators_that_draw_twice_or_learn_take_their_step_whole(name: str, make_cfg) -> None:
    family = [] if name == "measure_valued" else ["family=bernoulli"]
    cfg = make_cfg(*family, f"estimator={name}", "replicates=64", "max_batch_elements=1")
    assert not ESTIMATORS[name].chunks
    assert resolve(cfg).chunk_bounds(cfg.n_samples) == [0, 64]


@pytest.mark.parametrize(
    "replicates,n,dim,params,max_elements",
    [
        (37, 50, 1, 1, 100),
        (33, 7, 3, 3, 1),
        (4, 10**7, 1, 1, 8_388_608),
        (1000, 1, 1, 1, 64),
        (20, 9, 2, 4, 100),
    ],
)
def test_chunks_hold_whole_blocks_of_draws_within_the_budget(
    replicates: int, n: int, dim: int, params: int, max_elements: int
) -> None:
    bounds = step_bounds(replicates, n, dim, params, max_elements)
    assert bounds[0] == 0 and bounds[-1] == replicates and bounds == sorted(set(bounds))
    rows = [b - a for a, b in zip(bounds[:-1], bounds[1:])]
    assert all(r * n * dim % RNG_BLOCK == 0 for r in rows[:-1]) and rows[-1] * n * dim >= RNG_BLOCK
    smallest = RNG_BLOCK // torch.gcd(torch.tensor(n * dim), torch.tensor(RNG_BLOCK)).item()
    assert max(rows) <= max(max_elements // (n * params), smallest) + smallest


def test_chunks_keep_the_mean_variance_and_histogram_of_the_whole_step() -> None:
    """Against the whole tensor's own reductions and its every-k-th-term subsample."""
    generator = torch.Generator().manual_seed(0)
    terms = torch.randn(45, 3000, 2, generator=generator)  # 270 000 terms: a stride of 5
    parts = {"mu": slice(0, 1), "s": slice(1, 2)}
    alive = torch.rand(45, generator=generator) > 0.3
    for mask in (None, alive):
        got = estimate_in_chunks(
            lambda a, b: terms[a:b],
            [0, 7, 8, 30, 45],
            sample_variance_of_mean,
            Wants(True, parts, mask),
            terms[:, 0],
            3000,
        )
        assert torch.equal(got.grad, terms.mean(-2))
        assert torch.equal(got.variance, sample_variance_of_mean(terms, terms.mean(-2)))
        live = terms if mask is None else terms[mask]
        for tag, sample in got.histogram_samples(parts, mask).items():
            flat = live[..., parts[tag]].flatten()
            assert stride(flat.numel()) > 1 and torch.equal(sample, flat[:: stride(flat.numel())])


def test_a_row_that_dies_in_the_step_leaves_the_histogram() -> None:
    terms = torch.arange(40 * 5, dtype=torch.float32).reshape(40, 5, 1)
    got = estimate_in_chunks(
        lambda a, b: terms[a:b],
        [0, 16, 40],
        sample_variance_of_mean,
        Wants(False, {"t": slice(0, 1)}),
        terms[:, 0],
        5,
    )
    dead = torch.ones(40, dtype=torch.bool)
    dead[3] = False
    kept = got.histogram_samples({"t": slice(0, 1)}, dead)["t"]
    assert torch.equal(kept, torch.cat([terms[:3].flatten(), terms[4:].flatten()]))


def test_one_thread_gives_the_threads_back() -> None:
    before = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_the_in_step_variance_leaves_out_the_entropy_term(make_cfg, tmp_path: Path) -> None:
    """The entropy gradient is exact, so it has no variance: the estimate's in-step variance at
    step 0 (same draws) is the same with λ = 0 and λ = 4. It once took the spread about the
    shifted mean, λ²/(n − 1) too high."""
    logged = {}
    for weight in (0, 4):
        run_dir = tmp_path / f"lambda_{weight}"
        train(make_cfg("scale=shared", f"entropy_weight={weight}", "n_samples=4", "steps=2"), run_dir)
        logged[weight] = scalars(run_dir)["scale/grad_variance"][0]
        assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert logged[0] == logged[4]
