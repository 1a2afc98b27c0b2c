"""``python -m benchmarks.run``: every benchmark figure, each a ratio measured in this one process run.

B1 large batch, B2 small step, B3 the variance study against the seed's method, B4 sweep
throughput, and the peak memory of the default run and of a large variance study
(docs/performance.md); ``device``: B1 at several sizes and the small step on ``--device``
(``benchmarks/device.py``; ``--only device --device cuda`` on a GPU); ``pyro``: a training step
per replicate against Pyro's SVI step (``benchmarks/pyro_peer.py``; skipped without pyro-ppl);
``tricks``: each variance-reduction trick's time per step against iid/none, and a default run with
Sobol' draws against iid (``benchmarks/tricks.py``).
Timings are medians over ``--repeats`` alternated repeats, with the min–max in brackets; torch uses
its default number of threads unless ``--threads`` is given (B1–B3, pyro, tricks). Like ``train.py`` and
the variance app, this entry point sets glibc's heap thresholds (``runtime.keep_freed_memory``)
before B1–B3, unless ``--heap default`` keeps glibc's defaults.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys

import torch

from benchmarks import device, loops, memory, pyro_peer, sweeps, tricks, variance
from benchmarks.timing import spread
from reparam_opt.training.cli import LineParser
from reparam_opt.training.runtime import keep_freed_memory, use_threads


def machine() -> str:
    """CPU model, core count, torch version and threads: the context every figure needs."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{model}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} torch threads"
    )


def b1(repeats: int) -> None:
    targets = {"pathwise": 0.5, "score": 0.4}
    for estimator, target in targets.items():
        c = loops.large_batch(estimator, repeats)
        samples = 1000 * 1000 * 201
        loop = spread([samples / t for t in c.measured], 1e-6)
        randn = spread([samples / t for t in c.baseline], 1e-6)
        print(
            f"B1 {estimator:8s} loop / randn samples per s: {spread(c.ratios())}  (target ≥ {target}; "
            f"loop {loop} M/s, randn {randn} M/s)"
        )


def b2(repeats: int) -> None:
    steps = 5000
    c = loops.small_step(repeats, steps)
    print(
        f"B2 small step  loop / minimal µs per step: {spread([1 / r for r in c.ratios()])}  (target ≤ 1.5; "
        f"loop {spread(c.measured, 1e6 / steps)} µs, minimal {spread(c.baseline, 1e6 / steps)} µs)"
    )


def b3(repeats: int) -> None:
    c = variance.ten_times_the_seed(repeats)
    print(
        f"B3 variance study, 1000 repetitions  seed's numpy loop / study: {spread(c.ratios())}  (target ≥ 5; "
        f"study {spread(c.measured)} s, seed's method {spread(c.baseline)} s)"
    )


def b4(repeats: int) -> None:
    times = sweeps.throughput(repeats)
    basic = times[next(iter(times))]
    for way, seconds in times.items():
        ratio = [b / s for b, s in zip(basic, seconds)]
        print(f"B4 {way:30s} {spread(seconds)} s  (a / this: {spread(ratio)})")


def mem() -> None:
    run, bare = memory.default_run()
    print(
        f"Memory default run peak RSS: {run:.0f} MiB  "
        f"(python -c 'import torch': {bare:.0f} MiB; ratio {run / bare:.2f})"
    )
    study = variance.large_study_peak_mib()
    print(
        f"Memory variance study n=10^6, 1000 repetitions, peak RSS: {study:.0f} MiB  (limit 2048 MiB; "
        f"ratio to bare torch {study / bare:.2f})"
    )


def pyro(repeats: int) -> None:
    if importlib.util.find_spec("pyro") is None:
        print("pyro: skipped, pyro-ppl is not installed (pip install -r requirements-test.txt)")
        return
    import pyro as pyro_ppl

    f = pyro_peer.compare(repeats)
    r = f.replicates
    print(
        f"pyro {pyro_ppl.__version__}, logistic regression D = 31, N = 569, one sample, Adam; "
        f"replicate-steps per s: ours at {r} replicates {spread(f.per_second('ours'))}, "
        f"Pyro SVI {spread(f.per_second('pyro'))}, plain torch at {r} {spread(f.per_second('floor'))}, "
        f"plain torch at 1 {spread(f.per_second('single'))}"
    )
    print(f"P1 ours / Pyro replicate-steps per s: {spread(f.over_pyro())}  (target ≥ 100)")
    print(
        f"P2 ours / plain torch µs per step at {r} replicates: {spread(f.over_floor())}  (target ≤ 3; "
        f"ours {spread(f.ours, 1e6)} µs, plain {spread(f.floor, 1e6)} µs)"
    )


def trick_costs(repeats: int) -> None:
    for c in tricks.step_costs(repeats):
        print(
            f"tricks {c.case:8s} {c.estimator:8s} {c.trick:14s} ms per step: {spread(c.seconds, 1e3)}, "
            f"{tricks.BASELINE} {spread(c.baseline, 1e3)}; trick / {tricks.BASELINE}: {spread(c.ratios())}"
        )
    c = tricks.sobol_run(repeats)
    print(
        f"tricks train.py defaults (256 replicates, n = 2, 200 steps) draws=sobol / draws=iid: "
        f"{spread([1 / r for r in c.ratios()])}  (sobol {spread(c.measured)} s, iid {spread(c.baseline)} s)"
    )


def main() -> None:
    parser = LineParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="alternated repeats per figure (default 5)")
    parser.add_argument(
        "--only",
        default="B1,B2,B3,B4,memory",
        help="comma-separated subset of B1,B2,B3,B4,memory,device,pyro,tricks",
    )
    parser.add_argument("--device", default="cpu", help="where `device` runs: cpu, cuda or cuda:<index>")
    parser.add_argument(
        "--sizes",
        default=",".join(f"{r}x{n}" for r, n in device.SIZES),
        help="B1 sizes for `device`, replicates x n_samples, comma-separated",
    )
    parser.add_argument("--compile", action="store_true", help="`device`: each B1 figure compiled too")
    parser.add_argument(
        "--sweep-repeats", type=int, default=2, help="repeats of B4, whose sweeps take minutes (default 2)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads for B1, B2, B3, pyro and tricks"
    )
    parser.add_argument(
        "--heap",
        choices=("keep", "default"),
        default="keep",
        help="keep: glibc reuses freed blocks, as train.py sets it (default); default: glibc's own",
    )
    args = parser.parse_args()
    for name in ("repeats", "sweep_repeats", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            sys.exit(f"bad value --{name.replace('_', '-')}={value}: must be an integer >= 1")
    use_threads(args.threads)
    kept = args.heap == "keep" and keep_freed_memory()
    chosen = {name.strip() for name in args.only.split(",")}
    unknown = chosen - {"B1", "B2", "B3", "B4", "memory", "device", "pyro", "tricks"}
    if unknown:
        sys.exit(
            f"bad value --only={args.only}: {', '.join(sorted(unknown))} unknown; "
            "choose from B1,B2,B3,B4,memory,device,pyro,tricks"
        )
    sizes = parse_sizes(args.sizes)
    if args.device != "cpu" and not (args.device.startswith("cuda") and torch.cuda.is_available()):
        sys.exit(f"bad value --device={args.device}: must be cpu, or cuda on a machine with CUDA")
    print(f"machine: {machine()}; repeats: {args.repeats}; heap: {'kept' if kept else 'glibc defaults'}")
    for name, bench in (("B1", b1), ("B2", b2), ("B3", b3)):
        if name in chosen:
            bench(args.repeats)
    if "B4" in chosen:
        b4(args.sweep_repeats)
    if "memory" in chosen:
        mem()
    if "device" in chosen:
        compiled = (False, True) if args.compile else (False,)
        for line in device.report(args.device, args.repeats, sizes, compiled=compiled):
            print(line)
    if "pyro" in chosen:
        pyro(args.repeats)
    if "tricks" in chosen:
        trick_costs(args.repeats)


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """``--sizes`` as (replicates, n_samples) pairs; one line and exit 1 for a bad one."""
    sizes = []
    for item in text.split(","):
        parts = item.strip().split("x")
        if len(parts) != 2 or not all(p.isdigit() and int(p) >= 1 for p in parts):
            sys.exit(f"bad value --sizes={text}: {item!r} is not REPLICATESxN_SAMPLES with both >= 1")
        sizes.append((int(parts[0]), int(parts[1])))
    return tuple(sizes)


if __name__ == "__main__":
    main()
