"""REBAR and RELAX on the Bernoulli family: the score function with a relaxed control variate.

Both draw z = θ + logit u, b = 1[z > 0], and z̃ ~ p(z | b) as θ + logit ũ with
ũ = b[(1 − p) + vp] + (1 − b)v(1 − p), and return per sample

    [f(b) − s·c(z̃)] ∂θ log q(b) + s·[∂θ c(z) − ∂θ c(z̃)],

unbiased for any control variate c and scale s. z̃ depends on θ through p as well as through
θ + …, and autograd differentiates both (the fix of duvenaud/relax issue #6); the first factor's
c(z̃) is evaluated at a θ-detached z̃, so it weighs the score without being differentiated in θ.

- REBAR (Tucker et al. 2017): c(z) = f(σ(z/τ)), s = η.
- RELAX (Grathwohl et al. 2018): c(z) = Q_φ(σ(z/τ)), s = 1, Q a 1 → 10 tanh → 1 network applied
  to 2σ(z/τ) − 1, as in duvenaud/relax's toy.py.

The learned parameters (REBAR's η and log τ when ``learn``; RELAX's φ and log τ) minimise the
squared estimate, whose gradient is the variance's since the mean does not depend on them, with
Adam at ``control_lr``, one step per training step. They carry a replicate axis, the network's
weights included (one small network per replicate, applied by broadcasting), so no replicate's
control variate learns from another's samples. They live in the run's ``state``, with their means
under ``state["logged"]`` for TensorBoard (``estimator/eta``, ``estimator/tau``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Bernoulli

from reparam_opt.estimators.spec import Estimator, no_closed_form

#: RELAX's hidden layer, as in the papers' toy.
HIDDEN = 10


def _draws(q, n_samples: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The per-sample logits leaf, b, z and z̃ (both z's live in θ), [replicates, n, 1] each."""
    logits = q.per_sample_logits(n_samples)
    u, v = torch.rand_like(logits), torch.rand_like(logits)
    p = torch.sigmoid(logits)
    z = logits + torch.logit(u)
    b = (z > 0).to(logits.dtype).detach()
    conditional = b * ((1 - p) + v * p) + (1 - b) * v * (1 - p)
    return logits, b, z, logits + torch.logit(conditional)


def _terms(cost, q, n_samples: int, control: Callable[[Tensor], Tensor], scale, learned: bool) -> Tensor:
    logits, b, z, z_tilde = _draws(q, n_samples)
    log_q = Bernoulli(logits=logits, validate_args=False).log_prob(b)
    surrogate = (cost(b).unsqueeze(-1) - scale * control(z_tilde.detach())) * log_q + scale * (
        control(z) - control(z_tilde)
    )
    (terms,) = torch.autograd.grad(
        surrogate, logits, grad_outputs=torch.ones_like(surrogate), create_graph=learned
    )
    return terms


def _learn(state: dict, terms: Tensor) -> Tensor:
    """One Adam step on the control variate's parameters against the squared estimate; the terms, detached.

    A ``frozen`` state (extra draws that only measure the variance) takes no step.
    """
    if state.get("frozen"):
        return terms.detach()
    optimizer: torch.optim.Optimizer = state["optimizer"]
    optimizer.zero_grad()
    terms.mean(-2).square().sum().backward(inputs=optimizer.param_groups[0]["params"])
    optimizer.step()
    return terms.detach()


def _parameters(
    state: dict, initial: dict[str, Callable[[], Tensor]], control_lr: float
) -> dict[str, Tensor]:
    """The run's learned parameters, made at its first step."""
    if "parameters" not in state:
        made = {name: make().requires_grad_(True) for name, make in initial.items()}
        state["parameters"] = made
        state["optimizer"] = torch.optim.Adam(list(made.values()), lr=control_lr)
    return state["parameters"]


def bernoulli_rebar(
    cost,
    q,
    n_samples: int,
    tau: float = 0.5,
    eta: float = 1.0,
    learn: bool = False,
    control_lr: float = 0.01,
    state: dict | None = None,
) -> Tensor:
    """REBAR: c(z) = f(σ(z/τ)), scaled by η; η and τ fixed, or learned from their starting values."""
    if not learn:
        return _terms(
            cost, q, n_samples, lambda z: cost(torch.sigmoid(z / tau)).unsqueeze(-1), eta, learned=False
        )
    state = {} if state is None else state
    like = q.logits.detach()[..., None]  # [replicates, 1, 1]
    learned = _parameters(
        state,
        {"eta": lambda: torch.full_like(like, eta), "log_tau": lambda: torch.full_like(like, math.log(tau))},
        control_lr,
    )
    temperature = learned["log_tau"].exp()
    terms = _terms(
        cost, q, n_samples, lambda z: cost(torch.sigmoid(z / temperature)).unsqueeze(-1), learned["eta"], True
    )
    state["logged"] = {
        "estimator/eta": learned["eta"].detach().mean(),
        "estimator/tau": temperature.detach().mean(),
    }
    return _learn(state, terms)


def bernoulli_relax(
    cost,
    q,
    n_samples: int,
    tau: float = 0.5,
    control_lr: float = 0.01,
    state: dict | None = None,
) -> Tensor:
    """RELAX: c(z) = Q_φ(σ(z/τ)), a 1 → 10 tanh → 1 network per replicate, with τ learned beside it.

    The weights start as the papers' TensorFlow dense layers do (Glorot uniform, zero biases).
    """
    state = {} if state is None else state
    replicates, like = q.logits.shape[0], q.logits.detach()
    glorot = math.sqrt(6.0 / (1 + HIDDEN))

    def uniform() -> Tensor:
        return (2 * torch.rand(replicates, 1, HIDDEN, dtype=like.dtype, device=like.device) - 1) * glorot

    learned = _parameters(
        state,
        {
            "w_in": uniform,
            "b_in": lambda: like.new_zeros(replicates, 1, HIDDEN),
            "w_out": uniform,
            "b_out": lambda: like.new_zeros(replicates, 1, 1),
            "log_tau": lambda: torch.full_like(like[..., None], math.log(tau)),
        },
        control_lr,
    )
    temperature = learned["log_tau"].exp()

    def control(z: Tensor) -> Tensor:
        relaxed = 2 * torch.sigmoid(z / temperature) - 1  # [replicates, n, 1]
        hidden = torch.tanh(relaxed * learned["w_in"] + learned["b_in"])  # [replicates, n, HIDDEN]
        return (hidden * learned["w_out"]).sum(-1, keepdim=True) + learned["b_out"]

    terms = _terms(cost, q, n_samples, control, 1.0, learned=True)
    state["logged"] = {"estimator/tau": temperature.detach().mean()}
    return _learn(state, terms)


#: REBAR, η and τ fixed or learned (``estimator.learn``), with three evaluations of f per sample.
rebar = Estimator(
    "rebar", {"bernoulli": bernoulli_rebar}, f_evals_per_sample=3, closed_form=no_closed_form, stateful=True
)
#: RELAX, one small network per replicate.
relax = Estimator(
    "relax", {"bernoulli": bernoulli_relax}, f_evals_per_sample=1, closed_form=no_closed_form, stateful=True
)
