"""Shared fixtures: Hydra composition of the real conf/ tree, and reading runs back."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from reparam_opt.training.config import register_configs

ROOT = Path(__file__).resolve().parents[1]
register_configs()

# torch's inductor caches compiled kernels on disk without the kernel setting in the key: a cache
# filled natively (vectorised C++) breaks a compiled step under ATEN_CPU_CAPABILITY=default, which
# builds it with scalar flags ("'at::vec' has not been declared"). Each setting gets its own cache;
# subprocess runs inherit it.
if "ATEN_CPU_CAPABILITY" in os.environ and "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(
        tempfile.gettempdir(), f"torchinductor_{getpass.getuser()}_{os.environ['ATEN_CPU_CAPABILITY']}"
    )


def compose_config(config_name: str, *overrides: str) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with overrides through Hydra's compose API."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides))


def compose_with_hydra(*overrides: str) -> DictConfig:
    """``conf/config.yaml`` composed with its ``hydra`` node, to read a preset's sweeper params."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


@pytest.fixture
def make_cfg() -> Callable[..., DictConfig]:
    """Compose ``conf/config.yaml`` with overrides, exactly as ``train.py`` would."""
    return lambda *overrides: compose_config("config", *overrides)


def run_train(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python train.py ARGS`` in a subprocess, as a user types it."""
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in a run directory, read through tensorboard's own EventAccumulator."""
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bit-for-bit",
        action="store_true",
        help="compare with tests/reference/ exactly, not within rounding (where a machine reproduces them)",
    )


@pytest.fixture
def bit_for_bit(request: pytest.FixtureRequest) -> bool:
    """True under ``--bit-for-bit``: a refactor checked on the machine that took the fixtures."""
    return request.config.getoption("--bit-for-bit")


@pytest.fixture
def one_thread():
    """One torch thread for the test: a Sobol' draw builds one small engine per replicate row, and a
    second thread's start-up costs more than that work (on a busy machine many times more). The
    numbers do not depend on it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
