"""One run of ``train.py``: its config, checks, setup, loop, records and outcome."""

from reparam_opt.training.loop import THETA_BOUND, train

__all__ = ["THETA_BOUND", "train"]
