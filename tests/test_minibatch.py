"""A model's minibatch is one per step: ``Objective.one_batch`` holds it for every evaluation of f
inside, so that estimators evaluating f more than once (measure-valued's coupled pairs) difference
it on one batch."""

from __future__ import annotations

import torch

from reparam_opt.objectives.logistic_regression import LogisticRegression


def test_one_batch_holds_the_minibatch_for_every_evaluation_inside() -> None:
    """A step's evaluations of f share one minibatch (measure-valued differences f on one batch);
    outside ``one_batch`` each evaluation draws its own."""
    model = LogisticRegression(batch_size=32)
    w = torch.zeros(4, 31, dtype=torch.float64) + 0.1 * torch.arange(31, dtype=torch.float64)
    torch.manual_seed(0)
    with model.one_batch():
        first, second = model(w), model(w)
    assert torch.equal(first, second)
    torch.manual_seed(0)
    assert torch.equal(model(w), first)  # drawn at the first evaluation: the same stream as without
    assert not torch.equal(model(w), first)
