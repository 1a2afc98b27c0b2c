"""Output directories that two runs can never share, even when started in the same second.

``${fresh_dir:outputs/runs/<date>/<time>}`` claims the directory with an atomic ``mkdir``: the
first run to ask gets ``<time>``, a second one in the same second ``<time>_2``, and so on. The
resolver is cached, and Hydra copies the cache of the sweep's config into each job's, so every
job of a sweep sees the one directory its sweep claimed.
"""

from __future__ import annotations

import os
from itertools import count

from omegaconf import OmegaConf


def claim_fresh_dir(path: str) -> str:
    """Create ``path``, or the first free ``path_2``, ``path_3``...; return the one created."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    for n in count(1):
        candidate = path if n == 1 else f"{path}_{n}"
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("fresh_dir"):
        OmegaConf.register_new_resolver("fresh_dir", claim_fresh_dir, use_cache=True)
