"""Which keys a composed config may hold, and the nearest one to a key it may not.

A typed node's keys are its schema's fields: ``OmegaConf.get_type`` of the node is the dataclass
(``TrainConfig``, ``RelaxedEstimatorConfig``, ...). Struct mode already refuses a plain
``foo=1``, but Hydra's ``+foo=1`` adds a key past it, so a misspelt key would run the defaults
in silence. The checks compare each node's keys with its schema's and name the unknown one with
the known key most like it: ``+tau=2`` beside ``estimator=concrete`` points at ``estimator.tau``.
A node typed as a plain dict (the variance study's ``estimators``, a ``Dict[str, Any]`` field)
holds whatever keys it is given; its typed children are checked in turn.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import fields, is_dataclass
from difflib import SequenceMatcher

from omegaconf import DictConfig, OmegaConf


def declared(node: DictConfig) -> list[str]:
    """The keys ``node`` may hold: its schema's fields, or, for a plain dict, the keys it holds."""
    schema = OmegaConf.get_type(node)
    if is_dataclass(schema):
        return [field.name for field in fields(schema)]
    return [str(key) for key in node.keys()]


def child(node: DictConfig, key: str) -> DictConfig | None:
    """The sub-node at ``key`` if it is a config of its own (not missing, not an interpolation)."""
    if key not in node or OmegaConf.is_missing(node, key) or OmegaConf.is_interpolation(node, key):
        return None
    value = node[key]
    return value if isinstance(value, DictConfig) else None


def known_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """Every dotted key the schemas of ``node`` and its sub-nodes declare, each once."""
    keys = []
    for key in declared(node):
        keys.append(prefix + key)
        sub = child(node, key)
        if sub is not None:
            keys += known_keys(sub, f"{prefix}{key}.")
    return keys


def unknown_keys(node: DictConfig, prefix: str = "") -> Iterator[str]:
    """Each dotted key that ``node`` holds and its schema does not declare, as it was typed:
    ``+foo.bar=1`` gives ``foo.bar``, not ``foo``."""
    allowed = set(declared(node))
    for key in map(str, node.keys()):
        sub = child(node, key)
        if key not in allowed:
            yield prefix + typed_path(key, sub)
        elif sub is not None:
            yield from unknown_keys(sub, f"{prefix}{key}.")


def typed_path(key: str, node: DictConfig | None) -> str:
    """``key`` extended down a chain of one-key nodes, the path an override such as ``+foo.bar=1`` made."""
    while node is not None and len(node) == 1:
        (inner,) = map(str, node.keys())
        key, node = f"{key}.{inner}", child(node, inner)
    return key


def likeness(key: str, candidate: str) -> float:
    """How alike two dotted keys are (difflib's ratio), whole or by their last part, whichever is
    more: a key given at the wrong level (``tau`` for ``estimator.tau``) matches by its last part."""
    whole = SequenceMatcher(None, key, candidate).ratio()
    last = SequenceMatcher(None, key.rsplit(".", 1)[-1], candidate.rsplit(".", 1)[-1]).ratio()
    return max(whole, last)


def nearest_key(key: str, known: Sequence[str]) -> str:
    """The known key most like ``key``; of equally alike ones, the one at ``key``'s depth
    (``lr_`` means ``lr`` rather than ``optimizer.lr``), then the first listed."""
    depth = key.count(".")
    return max(known, key=lambda c: (likeness(key, c), -abs(c.count(".") - depth)))


def unknown_key_line(key: str, known: Sequence[str]) -> str:
    return f"unknown key {key}: the nearest known key is {nearest_key(key, known)}"


def first_unknown_key(cfg: DictConfig) -> str | None:
    """The line for the first key in ``cfg`` that no schema declares, or None if there is none."""
    key = next(unknown_keys(cfg), None)
    return None if key is None else unknown_key_line(key, known_keys(cfg))
