"""What an estimator is: its terms function per family, its cost in f-evaluations, the fewest samples
it needs, how its in-step variance is estimated and where its closed-form variances come from.

A terms function has one signature, after DeepMind's mc_gradients:
``terms(cost, q, n_samples, **options) -> Tensor[replicates, n_samples, P]``, the per-sample
gradient terms for every replicate and every learned parameter. Their mean over the samples is
the estimate; their sample variance over the samples, divided by n, is its in-step variance. An
``Estimator`` holds one terms function per family it applies to, keyed by the family's name, and
is called on a family's q, which says which family it is (``q.family``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

#: The per-sample terms of one estimator: ``(cost, q, n_samples, **options) -> [replicates, n_samples, P]``.
TermsFn = Callable[..., Tensor]

#: A closed-form variance rule: ``(estimator, cost, μ, σ, n) -> Tensor | None``, per coordinate of μ.
ClosedForm = Callable[..., "Tensor | None"]


def sample_variance_of_mean(terms: Tensor, mean: Tensor | None = None) -> Tensor:
    """Per replicate and parameter, the in-step estimate of Var(mean of n terms): sample variance / n.

    ``terms`` are [..., n, P]. ``mean`` (their mean over the samples, if the caller has it) saves a
    pass; the sample variance is a norm of the centred terms, several times faster than
    ``Tensor.var`` on the CPU.
    """
    n = terms.shape[-2]
    mean = terms.mean(-2) if mean is None else mean
    return torch.linalg.vector_norm(terms - mean.unsqueeze(-2), dim=-2).square() / (n * (n - 1))


def independent_terms(estimator: Estimator, cost, mu: Tensor, sigma: Tensor | float, n: int) -> Tensor | None:
    """Independent terms: one term's variance per coordinate, from the cost's closed forms if it has them."""
    return cost.term_variances(estimator.name, mu, sigma)


def independent_scale_terms(
    estimator: Estimator, cost, mu: Tensor, sigma: Tensor | float, learned: str
) -> Tensor | None:
    """One s-term's variance, summed over scale coordinates, where the cost gives it."""
    return cost.scale_term_variance(estimator.name, mu, sigma, learned)


@dataclass(frozen=True, eq=False)
class Estimator:
    """An estimator's terms functions, one per family it applies to, and what the rest of the
    project needs to know about it."""

    #: Its name, as ``estimator=`` says it.
    name: str
    #: Its terms function on each family it applies to, by the family's name.
    terms: Mapping[str, TermsFn]
    #: Evaluations of f per sample term (0 for ``exact``, which uses the closed form).
    f_evals_per_sample: int
    #: The fewest samples per estimate it works with (2 for a leave-one-out baseline).
    min_samples: int = 1
    #: The in-step estimate of Var(mean of the terms), per replicate and parameter.
    variance_of_mean: Callable[[Tensor, Tensor | None], Tensor] = sample_variance_of_mean
    #: n × Var(the n-sample estimate of ∇_μ) in closed form on the Gaussian family, per coordinate of μ.
    closed_form: ClosedForm = independent_terms
    #: The same for the s-terms, summed over scale coordinates: ``(estimator, cost, μ, σ, learned)``.
    scale_closed_form: Callable[..., Tensor | None] = independent_scale_terms
    #: Its f-evaluations are per coordinate of μ (and again per coordinate of a learned scale).
    per_coordinate: bool = False
    #: Why it does not apply to a family it has no terms for, and what to use instead, by family.
    why_not: Mapping[str, str] = field(default_factory=dict)
    #: It keeps state across the steps of a run (say, a moving average), one entry per replicate,
    #: in the ``state`` dict the loop makes afresh for every run and passes to every call.
    stateful: bool = False
    #: Its terms estimate the whole of J_λ, the entropy term's gradient included, so the loop adds
    #: no exact entropy gradient to them (``estimator.entropy_weight`` gives it λ).
    includes_entropy: bool = False
    #: Each of its terms uses the other samples too (a leave-one-out baseline), so it is unbiased
    #: only when the samples are independent: not with antithetic or Sobol' draws, nor with a
    #: control variate's coefficient made from the other samples' terms.
    terms_share_samples: bool = False
    #: Its terms change when a constant is added to f (it has no baseline of its own): what a
    #: moving-average baseline needs (``control_variate=moving_average``).
    takes_baseline: bool = False
    #: Samples it draws per step beyond the n it averages (a control variate's coefficient's).
    extra_samples: int = 0
    #: Evaluations of f per step beyond those of its samples (the delta method's f at μ).
    extra_f_evals: int = 0
    #: The variance-reduction trick applied to it, as its keys say it ("draws=sobol,
    #: control_variate=none"); "" for none (``reduction.reduced``). A closed form looked up by the
    #: estimator's name holds only without one.
    trick: str = ""
    #: Sets of per-sample terms a step holds at once: 2 where a control variate's terms sit beside
    #: its own (what ``training/resources.py`` multiplies a step's memory by).
    terms_held: int = 1
    #: It draws once per call, one row per replicate, so the terms of a block of rows are those
    #: rows of the whole batch's terms drawn from the same stream (``reparam_opt/training/chunks.py``).
    draws_once: bool = True

    @property
    def chunks(self) -> bool:
        """Whether a big step may be made a chunk of rows at a time: it draws once and keeps no
        state (a stateful estimator, say RELAX, learns from the whole step's terms at once)."""
        return self.draws_once and not self.stateful

    def applies_to(self, family: str) -> bool:
        return family in self.terms

    def __call__(self, cost, q, n_samples: int, state: dict | None = None, **options) -> Tensor:
        terms = self.terms.get(q.family)
        if terms is None:
            raise ValueError(f"bad value estimator={self.name}: it has no terms for family={q.family}")
        if self.stateful:
            options["state"] = state
        return terms(cost, q, n_samples, **options)

    def closed_form_variance(
        self, cost, mu: Tensor, sigma: Tensor | float, n_samples: int = 1
    ) -> Tensor | None:
        """n × Var(the n-sample estimate of ∇_μ) at μ [..., D], summed over coordinates: [...].

        The sum is the trace of the estimate's covariance. For independent terms this is the
        variance of one term, whatever n; the leave-one-out terms are correlated and their figure
        depends on n. None without a closed form.
        """
        per_coordinate = self.closed_form(self, cost, mu, sigma, n_samples)
        return None if per_coordinate is None else per_coordinate.sum(-1)

    def closed_form_scale_variance(
        self, cost, mu: Tensor, sigma: Tensor | float, learned: str
    ) -> Tensor | None:
        """n × Var(the n-sample estimate of ∇_s), summed over scale coordinates, or None."""
        return self.scale_closed_form(self, cost, mu, sigma, learned)

    def f_evals_per_step(self, n_samples: int, dim: int = 1, learned_scale: bool = False) -> int:
        """Evaluations of f per replicate per step."""
        samples = n_samples + self.extra_samples
        if not self.per_coordinate:
            return self.f_evals_per_sample * samples + self.extra_f_evals
        return self.f_evals_per_sample * samples * dim * (2 if learned_scale else 1) + self.extra_f_evals


def estimator(**spec) -> Callable[[TermsFn], Estimator]:
    """Make a terms function on the Gaussian family into its ``Estimator``, named after it:
    ``@estimator(f_evals_per_sample=1)``."""
    return lambda terms: Estimator(terms.__name__, {"gaussian": terms}, **spec)


# Where the other estimators' closed-form variances come from.


def no_variance(estimator: Estimator, cost, mu: Tensor, sigma: Tensor | float, *_) -> Tensor:
    return torch.zeros_like(mu)


def no_scale_variance(
    estimator: Estimator, cost, mu: Tensor, sigma: Tensor | float, learned: str
) -> Tensor | None:
    return None if learned == "fixed" else torch.zeros_like(mu[..., 0])


def no_closed_form(*_) -> None:
    return None
