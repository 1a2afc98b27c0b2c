"""What a key allows, declared once beside its schema field and read from there by validation.

A schema field carries its bound in its metadata: ``steps: int = field(default=200,
metadata=bound(at_least(1)))``. ``validation.check_bounds`` walks the composed config and checks
every typed node's fields against their bounds, so a bound is never written twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

#: The metadata key a schema field's bound sits under.
KEY = "allowed"


@dataclass(frozen=True)
class Allowed:
    """What a key allows: a test on its value and the words that say it."""

    text: str
    test: Callable[[Any], bool]

    def message(self, key: str, value: Any) -> str | None:
        """The one line for a value it does not allow, or None."""
        return None if self.test(value) else f"bad value {key}={value}: must be {self.text}"


def bound(allowed: Allowed) -> dict[str, Allowed]:
    """A schema field's metadata with its bound."""
    return {KEY: allowed}


def at_least(minimum: int) -> Allowed:
    return Allowed(f"an integer >= {minimum}", lambda v: v >= minimum)


def null_or_at_least(minimum: int) -> Allowed:
    return Allowed(f"null or an integer >= {minimum}", lambda v: v is None or v >= minimum)


def one_of(values: Iterable[str], null: bool = False) -> Allowed:
    values = tuple(values)
    text = f"{'null or ' if null else ''}one of {', '.join(values)}"
    return Allowed(text, lambda v: (null and v is None) or v in values)


POSITIVE = Allowed("a finite number > 0", lambda v: math.isfinite(v) and v > 0)
FINITE = Allowed("a finite number", math.isfinite)
NON_NEGATIVE = Allowed("a finite number >= 0", lambda v: math.isfinite(v) and v >= 0)
UNIT_INTERVAL = Allowed("a number in [0, 1)", lambda v: 0 <= v < 1)
ZERO_OR_AT_LEAST_2 = Allowed("0, or an integer >= 2", lambda v: v == 0 or v >= 2)
