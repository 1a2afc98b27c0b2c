"""How far another CPU's arithmetic may move a stored number, and the comparisons that allow it.

The same code on another CPU runs other kernels: ATen picks AVX-512, AVX2 or scalar code when it
starts (``ATEN_CPU_CAPABILITY`` chooses), and with them the normal sampler's vectorised log and cos,
the transcendental functions of the objectives and the order in which a reduction adds its terms.
Each is correct to an ulp or a few, so a float32 value moves by a few units of u = 2⁻²⁴ of the
magnitudes it was computed from, not of its own magnitude:

* **the scale.** A mean over replicates or samples that ends near zero is known only to ulps of the
  terms it summed; the largest |value| of its series stands for their magnitude (for a variance,
  the square of the gradient's, since its terms are squares);
* **the steps.** Each step rounds anew and feeds the next. On a path that does not expand, the
  errors add up at most linearly: four ulps of the scale per step is the budget (a draw of the
  normal sampler moves by up to about four ulps; over the replicates these average out, and a
  reduction of m terms adds about log₂ m ulps of its terms);
* **the cancellation.** A score-function term is f(x)(x − θ)/σ². Where |θ| ≫ σ, x − θ cancels and
  keeps an ulp of |θ| on a quantity of size σ: a replicate thrown out to |θ| carries a relative
  error of u|θ|/σ, which the mean it dominates inherits. Θ bounds every replicate's |θ| from what
  the run logged: its quantiles, and √R times its RMS error over R replicates.

So a float of a run of S steps is compared as ``|v − stored| ≤ (4(S + 1) + Θ/σ) u (|stored| + scale)``.
Counts (diverged replicates, steps to tolerance, a histogram's number of terms), statuses and the
config compare exactly. A histogram's equal-width buckets may trade terms between neighbours: an
edge and a term each move by the tolerance at most, so only the terms within two tolerances of an
edge can cross it: no more than that band's share of the two buckets beside it, plus one.

The variance study and ``pair_table`` print statistics of n draws each, float32 in the study and
float64 in ``pair_table``: a mean of n terms summed in another order moves by about √n ulps of
the draws' precision (rounding errors add like a random walk), and a factor of 16 covers the
terms' magnitude against their spread, so each number may move by 16√n ulps of itself, and by one
unit of its last printed digit where it is printed rounded.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Any

#: float32's unit roundoff, and float64's.
U = 2.0**-24
U64 = 2.0**-53

#: Scalar tags that count: compared exactly.
COUNT_TAGS = ("theta/diverged", "metrics/diverged", "metrics/steps_to_tolerance")

#: Scalar tags whose terms are squares of the gradient's.
VARIANCE_TAGS = ("grad/variance", "grad/variance_analytic")

#: Summary keys that count or name: compared exactly whatever their type.
EXACT_SUMMARY_KEYS = (
    "status",
    "step",
    "signal",
    "steps_to_tolerance",
    "diverged",
    "f_evals_per_step",
    "config",
)

#: A variance of float64 terms that cancel exactly is left with their rounding: an ulp of numbers
#: of order up to 64, squared. Below it, a measured variance is noise on any machine.
FLOAT64_NOISE = (64 * 2.0**-52) ** 2


def finite_max(values: list[float]) -> float:
    return max((abs(v) for v in values if math.isfinite(v)), default=0.0)


def same_float(found: float, stored: float, tolerance: float) -> bool:
    """Within ``tolerance``; a value that is not finite must be the same (NaN matching NaN)."""
    if not (math.isfinite(found) and math.isfinite(stored)):
        return found == stored or (math.isnan(found) and math.isnan(stored))
    return abs(found - stored) <= tolerance


def budget(stored: dict[str, Any]) -> float:
    """(4(S + 1) + Θ/σ) u: the relative tolerance of a stored run's values (module docstring)."""
    config = stored["summary"]["config"]
    scalars = stored["scalars"]
    spread = [finite_max(scalars[t]["values"]) for t in ("theta/q05", "theta/q95") if t in scalars]
    if "theta/rms_error" in scalars:
        spread.append(math.sqrt(config["replicates"]) * finite_max(scalars["theta/rms_error"]["values"]))
    return (4 * (config["steps"] + 1) + max(spread, default=0.0) / config.get("sigma", 1.0)) * U


def series_scale(stored: dict[str, Any], tag: str) -> float:
    scalars = stored["scalars"]
    scale = finite_max(scalars[tag]["values"])
    if tag in VARIANCE_TAGS:
        gradient = max(finite_max(scalars[t]["values"]) for t in ("grad/mean", "grad/exact") if t in scalars)
        scale = max(scale, gradient**2)
    return scale


#: Tags added since the fixtures were taken (issue 21: each logged step's Monte Carlo loss): a
#: fresh run writes them and the stored runs have none. Every other tag must be in both.
ADDED_TAGS = ("loss/monte_carlo", "loss/monte_carlo_se")


def paired(
    found: dict[str, Any], stored: dict[str, Any], kind: str, steps: Callable[[dict[str, Any]], list[int]]
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any], str | None]]:
    """Each tag of ``kind`` (scalars, histograms) with its fresh and stored series, and why the two
    cannot be compared value by value, if they cannot."""
    for tag in sorted(found[kind].keys() | stored[kind].keys()):
        new, old = found[kind].get(tag), stored[kind].get(tag)
        if old is None and tag in ADDED_TAGS:
            continue
        if new is None or old is None:
            yield tag, {}, {}, "written by one run only"
        elif steps(new) != steps(old):
            yield tag, new, old, "written at other steps"
        else:
            yield tag, new, old, None


def scalar_differences(found: dict[str, Any], stored: dict[str, Any], exact: bool) -> Iterator[str]:
    rel = 0.0 if exact else budget(stored)
    for tag, new, old, unpaired in paired(found, stored, "scalars", lambda series: series["steps"]):
        if unpaired:
            yield f"scalar {tag}: {unpaired}"
            continue
        scale = 0.0 if exact or tag in COUNT_TAGS else series_scale(stored, tag)
        for step, a, b in zip(old["steps"], new["values"], old["values"]):
            tolerance = rel * (abs(b) + scale)
            if not same_float(a, b, tolerance):
                yield f"scalar {tag} at step {step}: {a!r}, stored {b!r} (tolerance {tolerance:.3g})"
                break


def bucket_differences(new: dict[str, Any], old: dict[str, Any], tolerance: float) -> str | None:
    """Why two histograms' buckets are further apart than rounding allows (module docstring), or None."""
    if len(new["bucket"]) != len(old["bucket"]):
        return "another number of buckets"
    limits = [old["min"], *old["bucket_limit"]]
    for a, b in zip(new["bucket_limit"], old["bucket_limit"]):
        if not same_float(a, b, tolerance):
            return f"bucket limit {a!r}, stored {b!r}"
    counts = old["bucket"]
    for i, (a, b) in enumerate(zip(accumulate(new["bucket"]), accumulate(counts))):
        width = limits[i + 1] - limits[i] if i + 1 < len(limits) else 0.0
        band = 1.0 if width <= 0 else min(1.0, 4 * tolerance / width)
        beside = counts[i] + (counts[i + 1] if i + 1 < len(counts) else 0.0)
        if abs(a - b) > band * beside + 1:
            return f"{abs(a - b):g} terms crossed bucket edge {i}, more than rounding can move"
    return None


def event_difference(a: dict[str, Any], b: dict[str, Any], rel: float, exact: bool) -> str | None:
    """Why a histogram event is further from the stored one than rounding allows, or None."""
    if exact:
        return None if a == b else "not bit for bit"
    if a["num"] != b["num"]:
        return f"{a['num']:g} terms, stored {b['num']:g}"
    scale = max(abs(b["min"]), abs(b["max"]))
    scales = {"min": scale, "max": scale, "sum": scale * b["num"], "sum_squares": scale**2 * b["num"]}
    for key, s in scales.items():
        if not same_float(a[key], b[key], rel * (abs(b[key]) + s)):
            return f"{key} {a[key]!r}, stored {b[key]!r}"
    return bucket_differences(a, b, rel * scale)


def event_steps(series: dict[str, Any]) -> list[int]:
    return [e["step"] for e in series["events"]]


def histogram_differences(found: dict[str, Any], stored: dict[str, Any], exact: bool) -> Iterator[str]:
    rel = 0.0 if exact else budget(stored)
    for tag, new, old, unpaired in paired(found, stored, "histograms", event_steps):
        if unpaired:
            yield f"histogram {tag}: {unpaired}"
            continue
        for a, b in zip(new["events"], old["events"]):
            moved = event_difference(a, b, rel, exact)
            if moved:
                yield f"histogram {tag} at step {b['step']}: {moved}"
                break


#: ``_target_`` paths that moved with the code (issue 21, the package by role): the stored config
#: names the old path, a run now the new one. Every other path must be the same.
MOVED_TARGETS = {"reparam_opt.bernoulli.Target": "reparam_opt.objectives.Target"}


def at_moved_paths(config: Any) -> Any:
    """A config with the moved ``_target_`` paths at their new places."""
    if not isinstance(config, dict):
        return config
    return {
        key: MOVED_TARGETS.get(value, value) if key == "_target_" else at_moved_paths(value)
        for key, value in config.items()
    }


def summary_differences(found: dict[str, Any], stored: dict[str, Any], exact: bool) -> Iterator[str]:
    rel = 0.0 if exact else budget(stored)
    new, old = dict(found["summary"]), dict(stored["summary"])
    if "config" in new and "config" in old:
        new["config"], old["config"] = at_moved_paths(new["config"]), at_moved_paths(old["config"])
    for key in sorted(new.keys() | old.keys()):
        a, b = new.get(key, "absent"), old.get(key, "absent")
        if isinstance(a, float) and isinstance(b, float) and key not in EXACT_SUMMARY_KEYS:
            if not same_float(a, b, rel * abs(b)):
                yield f"summary {key}: {a!r}, stored {b!r}"
        elif a != b:
            yield f"summary {key}: {a!r}, stored {b!r}"


def run_differences(found: dict[str, Any], stored: dict[str, Any], exact: bool = False) -> list[str]:
    """Every way a run (``regression.run_record``) is further from the stored one than rounding allows;
    with ``exact``, every way it is not bit for bit the same."""
    return [
        *scalar_differences(found, stored, exact),
        *histogram_differences(found, stored, exact),
        *summary_differences(found, stored, exact),
    ]


def number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def csv_differences(found: str, stored: str, exact: bool = False) -> list[str]:
    """The variance study's CSV cell by cell: numbers within 16√n u of the stored, the rest equal."""
    if exact:
        return [] if found == stored else ["not bit for bit"]
    new, old = list(csv.DictReader(io.StringIO(found))), list(csv.DictReader(io.StringIO(stored)))
    if len(new) != len(old) or (new and new[0].keys() != old[0].keys()):
        return ["other rows or columns"]
    differences = []
    for row, (a_row, b_row) in enumerate(zip(new, old), start=1):
        rel = 16 * math.sqrt(float(b_row["n_samples"])) * U
        for key, b in b_row.items():
            a, x, y = a_row[key], number(a_row[key]), number(b)
            if x is None or y is None:
                moved = a != b
            else:
                moved = not same_float(x, y, rel * abs(y))
            if moved:
                differences.append(f"row {row} {key}: {a}, stored {b}")
    return differences


NUMBER = re.compile(r"[-+]?\d+(?:\.(\d*))?(?:e([-+]?\d+))?")


def printed_unit(match: re.Match[str]) -> float:
    """One unit of the last digit a number was printed with."""
    decimals = len(match.group(1) or "")
    exponent = int(match.group(2) or 0)
    return 10.0 ** (exponent - decimals)


def table_differences(found: str, stored: str, n: int, unit: float = U64, exact: bool = False) -> list[str]:
    """A printed table line by line: its words equal, each number within one unit of its last digit
    and 16√n ``unit`` of itself, or both below ``FLOAT64_NOISE``."""
    if exact:
        return [] if found == stored else ["not bit for bit"]
    new, old = found.splitlines(), stored.splitlines()
    if len(new) != len(old):
        return ["another number of lines"]
    rel = 16 * math.sqrt(n) * unit
    differences = []
    for line, (a, b) in enumerate(zip(new, old), start=1):
        a_numbers, b_numbers = list(NUMBER.finditer(a)), list(NUMBER.finditer(b))
        words_differ = NUMBER.sub("#", a) != NUMBER.sub("#", b) or len(a_numbers) != len(b_numbers)
        if words_differ or any(
            not (
                abs(float(x.group()) - float(y.group())) <= printed_unit(y) + rel * abs(float(y.group()))
                or max(abs(float(x.group())), abs(float(y.group()))) < FLOAT64_NOISE
            )
            for x, y in zip(a_numbers, b_numbers)
        ):
            differences.append(f"line {line}: {a!r}, stored {b!r}")
    return differences
