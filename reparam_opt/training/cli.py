"""How every command answers bad input: one line on stderr and exit 1.

Hydra frames what it reports: ``Error executing job with overrides: [...]`` before a job's error
and its hint about HYDRA_FULL_ERROR after it, and for its own composition errors the available
options and the config search path. Someone who typed a bad value needs the one line that names
it. ``run_app`` runs a ``@hydra.main`` function with HYDRA_FULL_ERROR=1, so that Hydra raises
instead of printing, and ends on ``error_line`` of whatever comes out. A single run's task
function ends on ``exit_with`` instead of raising: Hydra's job return would print its framing
line before raising again. A user who set HYDRA_FULL_ERROR=1 keeps Hydra's own report with the
full traceback. ``LineParser`` gives the argparse entry points the same single line.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from hydra.errors import (
    CompactHydraException,
    ConfigCompositionException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from reparam_opt.training.known_keys import known_keys, unknown_key_line

FULL_ERROR = "HYDRA_FULL_ERROR"

#: OmegaConf's lines under its message: where the key sits, not what is wrong with it.
LOCATION = re.compile(r"\s*(full_key:|object_type=|reference_type=)")

#: True while ``run_app`` answers errors with one line (the user did not set HYDRA_FULL_ERROR=1).
_one_line_errors = False


def run_app(main: Callable[[], Any]) -> None:
    """Run a ``@hydra.main`` function; an exception that reaches the top becomes one line and exit 1."""
    global _one_line_errors
    previous = os.environ.get(FULL_ERROR)
    if previous == "1":  # a developer asked for Hydra's full report
        main()
        return
    os.environ[FULL_ERROR] = "1"  # Hydra's run_and_report raises instead of printing
    _one_line_errors = True
    try:
        main()
    except Exception as error:
        sys.exit(error_line(error))
    finally:
        _one_line_errors = False
        if previous is None:
            del os.environ[FULL_ERROR]
        else:
            os.environ[FULL_ERROR] = previous


def exit_with(line: str, error: BaseException) -> NoReturn:
    """End a single run on ``line``, made one line, and exit 1. Under a user's HYDRA_FULL_ERROR=1,
    or outside ``run_app``, raise ``error`` for Hydra to report as it always does."""
    if not _one_line_errors:
        raise error
    sys.exit(one_line(line))


def one_line(text: str) -> str:
    """``text``'s lines joined by spaces, without blank lines or OmegaConf's location lines."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip() and not LOCATION.match(line))


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def error_line(error: BaseException) -> str:
    """The one line for an exception that reached the top of a Hydra app: Hydra's composition
    errors name the key and the value, as the checks of ``reparam_opt.training.validation`` do."""
    cause = error.__cause__
    if isinstance(error, MissingConfigException):
        group, _, name = (error.missing_cfg_file or "").rpartition("/")
        if group and error.options:
            return f"bad value {group}={name}: must be one of {', '.join(error.options)}"
        return first_line(str(error))  # the rest is the config search path
    if isinstance(error, OverrideParseException):
        return f"bad override {error.override}: {first_line(error.message)}"
    if isinstance(error, ConfigCompositionException) and isinstance(cause, OmegaConfBaseException):
        return composition_line(error, cause)
    if isinstance(error, CompactHydraException):
        return one_line(str(error))
    return f"error: {type(error).__name__}: {one_line(str(error))}"


def composition_line(error: ConfigCompositionException, cause: OmegaConfBaseException) -> str:
    """An override that OmegaConf refused: a key the schema does not declare, or a value of the wrong type."""
    parent = cause.parent_node
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and isinstance(parent, DictConfig):
        key = cause.full_key
        prefix = key.rpartition(".")[0]
        return unknown_key_line(key, known_keys(parent, f"{prefix}." if prefix else ""))
    if isinstance(cause, ValidationError) and cause.full_key:
        value = "null" if cause.value is None else cause.value
        return f"bad value {cause.full_key}={value}: {first_line(cause.msg)}"
    return f"{first_line(str(error))}: {first_line(cause.msg)}"


class LineParser(argparse.ArgumentParser):
    """An ArgumentParser that refuses a bad argument in one line and exit 1, as the checks after it
    do, where argparse prints its usage block and exits 2 (``--help`` still shows the usage)."""

    def error(self, message: str) -> NoReturn:
        sys.exit(f"{self.prog}: {one_line(message)}")
