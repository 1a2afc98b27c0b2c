"""What a model over a bundled dataset is besides its likelihood: the data, their checks, minibatches.

A model objective (``linear_regression``, ``logistic_regression``) is f(w) = −log p(y, w) over the
rows of a dataset scikit-learn ships (no download). Its features are standardised per column
(mean 0, population standard deviation 1) beside a column of ones for the intercept, so the model
sets D (features + 1). The models differ only in their likelihood and target, so what they share
lives here: loading the data, refusing a bad dataset, scale or batch size in one line naming the
key, the data cast once per dtype and device, and the minibatch.

With ``batch_size`` B < N, f takes a minibatch of B rows, drawn without replacement from the run's
stream, and scales its likelihood by N/B: f stays unbiased (each row is in the batch with
probability B/N) and the gradient becomes doubly stochastic. Inside ``one_batch`` (a training
step) every evaluation of f sees the same batch, so that differences of f between two points keep
their coupling; outside it each evaluation draws its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from reparam_opt.objectives.base import Objective


def load(loader: str) -> tuple[np.ndarray, np.ndarray]:
    """The features and target that ``sklearn.datasets.<loader>`` returns, imported only when a model
    is built: scikit-learn takes a second to import."""
    from sklearn import datasets

    return getattr(datasets, loader)(return_X_y=True)


def design(features: np.ndarray) -> np.ndarray:
    """Features standardised per column (population standard deviation) beside an intercept column."""
    standard = (features - features.mean(0)) / features.std(0)
    return np.hstack([standard, np.ones((len(standard), 1))])


class DataModel(Objective):
    """f(w) = −log p(y, w) over a bundled dataset's N rows; a subclass names its datasets and scales
    and supplies the likelihood. It has no ``name``: it is no ``objective=`` option itself."""

    negative_log_joint = True

    #: The datasets it may load, by their loaders in ``sklearn.datasets``.
    datasets: ClassVar[dict[str, str]] = {}

    #: Its scale parameters, each a finite number > 0, in the order they are checked.
    scale_keys: ClassVar[tuple[str, ...]] = ()

    dataset: str
    batch_size: int | None
    x64: Tensor
    y64: Tensor

    def read(self, dataset: str, batch_size: int | None) -> np.ndarray:
        """Check the dataset and the scales (set before), load the data, set ``x64`` to the design
        [N, D] in float64 and return the raw target [N] for the subclass to make ``y64`` of."""
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.validate_parameters()
        features, target = load(self.datasets[dataset])
        self.x64 = torch.from_numpy(design(features))
        self._cast: dict[tuple, tuple[Tensor, Tensor]] = {}
        self._holding, self._held = False, None  # one_batch's minibatch: Tensor | None
        return target

    @property
    def size(self) -> int:
        """N, the data points."""
        return self.x64.shape[0]

    @property
    def dim(self) -> int:
        """D, the weights: the features and the intercept."""
        return self.x64.shape[1]

    def validate_parameters(self) -> None:
        """The dataset and the scales, before the data are loaded; the batch size needs N."""
        if self.dataset not in self.datasets:
            raise ValueError(
                f"bad value objective.dataset={self.dataset}: must be one of {', '.join(self.datasets)}"
            )
        for key in self.scale_keys:
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"bad value objective.{key}={value}: must be a finite number > 0")

    def validate(self) -> None:
        if self.batch_size is not None and not 1 <= self.batch_size <= self.size:
            raise ValueError(
                f"bad value objective.batch_size={self.batch_size}: must be null (all data) or an "
                f"integer from 1 to {self.size}, the data points of {self.dataset}"
            )

    def check_dim(self, dim: int) -> None:
        if dim != self.dim:
            raise ValueError(
                f"bad value dim={dim}: objective={self.name} on {self.dataset} has {self.dim} weights "
                f"({self.dim - 1} features and the intercept); leave dim at {self.dim}"
            )

    def data(self, like: Tensor) -> tuple[Tensor, Tensor]:
        """X and y in ``like``'s dtype and on its device, made once each."""
        key = (like.dtype, like.device)
        if key not in self._cast:
            self._cast[key] = (self.x64.to(like.device, like.dtype), self.y64.to(like.device, like.dtype))
        return self._cast[key]

    def minibatch(self, like: Tensor) -> tuple[Tensor, Tensor, float]:
        """X, y and the likelihood's scale N/B for one evaluation of f: a fresh draw of B rows without
        replacement with ``batch_size`` B < N, else all the data and 1."""
        x, y = self.data(like)
        if self.batch_size is None or self.batch_size >= self.size:
            return x, y, 1.0
        rows = self._held if self._held is not None else self.draw_rows(like.device)
        return x[rows], y[rows], self.size / self.batch_size

    def draw_rows(self, device: torch.device) -> Tensor:
        """B rows without replacement; inside ``one_batch``, held for the rest of it."""
        rows = torch.randperm(self.size, device=device)[: self.batch_size]
        if self._holding:
            self._held = rows
        return rows

    @contextmanager
    def one_batch(self) -> Iterator[None]:
        """One minibatch for every evaluation of f inside: drawn at the first (so that the random
        stream is consumed as without the context), dropped at the end."""
        self._holding, self._held = True, None
        try:
            yield
        finally:
            self._holding, self._held = False, None
