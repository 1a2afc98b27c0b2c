"""An estimator that fails mid-run as a real out-of-memory error would, for the failure tests.

``python train.py estimator._target_=tests.failing.exhausts`` runs three steps, then raises.
"""

from __future__ import annotations

from torch import Tensor

from reparam_opt.estimators import pathwise
from reparam_opt.estimators.spec import estimator

#: Calls before the failure: the gradient at steps 0, 1 and 2.
CALLS_BEFORE = 3
_calls = [0]


@estimator(f_evals_per_sample=1)
def exhausts(cost, q, n_samples: int) -> Tensor:
    """Pathwise until the fourth call, then torch's out-of-memory error."""
    _calls[0] += 1
    if _calls[0] > CALLS_BEFORE:
        raise RuntimeError("CUDA out of memory. Tried to allocate 400.00 GiB")
    return pathwise(cost, q, n_samples)
