"""How ∇E_q[f] is estimated: the estimators, one module per kind, and their registry.

Each estimator is an ``Estimator`` (``spec.py``): a terms function per family it applies to, with
one signature after DeepMind's mc_gradients, ``terms(cost, q, n_samples, **options) ->
Tensor[replicates, n_samples, P]``, the per-sample gradient terms for every replicate and every
learned parameter (on the Gaussian family the D coordinates of μ, then the S log-scale
coordinates of a learned σ). Their mean over the samples is the estimate; their sample variance
over the samples, divided by n, is its in-step variance. The ``Estimator`` also says what it
costs in evaluations of f, the fewest samples it works with, how its in-step variance is
estimated and where its closed-form variances come from.

A config's ``_target_`` names the ``Estimator`` itself (``reparam_opt.estimators.score``), so a
new estimator is a function in the module of its kind, its ``Estimator`` in ``ESTIMATORS`` below
and a YAML file in ``conf/estimator/``. The sampling estimators differentiate with torch autograd,
never a hand-written f', so a new cost is one function. The terms and their variances are
derived in docs/maths.md.
"""

from __future__ import annotations

from reparam_opt.estimators.closed_form import exact
from reparam_opt.estimators.control_variates import rebar, relax
from reparam_opt.estimators.relaxations import concrete, straight_through
from reparam_opt.estimators.reparameterisation import pathwise, stl, trace_elbo
from reparam_opt.estimators.score_function import score, score_baseline, score_ema
from reparam_opt.estimators.spec import Estimator, estimator, sample_variance_of_mean
from reparam_opt.estimators.weak_derivative import measure_valued

__all__ = [
    "ESTIMATORS",
    "Estimator",
    "concrete",
    "estimator",
    "exact",
    "measure_valued",
    "pathwise",
    "rebar",
    "relax",
    "sample_variance_of_mean",
    "score",
    "score_baseline",
    "score_ema",
    "stl",
    "straight_through",
    "trace_elbo",
]

#: The registry: every estimator by name, in the order tables and figures list them.
ESTIMATORS: dict[str, Estimator] = {
    e.name: e
    for e in (
        score,
        score_baseline,
        score_ema,
        pathwise,
        trace_elbo,
        stl,
        measure_valued,
        exact,
        concrete,
        straight_through,
        rebar,
        relax,
    )
}
