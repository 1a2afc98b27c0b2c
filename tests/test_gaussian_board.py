"""What a Gaussian run with a learned scale writes to TensorBoard: every ``scale/*`` tag at its closed
form at the first step, the σ chart, and no analytic tag where there is no closed form."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2

from reparam_opt.training import train
from tests.closed_forms import central_moments
from tests.conftest import scalars
from tests.gaussian_cases import Z

SCALE_TAGS = {
    "scale/mean",
    "scale/q05",
    "scale/q95",
    "scale/grad_mean",
    "scale/grad_exact",
    "scale/grad_variance",
    "scale/grad_variance_analytic",
    "scale/rms_error",
}


def custom_scalar_layout(run_dir: Path) -> layout_pb2.Layout:
    """The Custom Scalars layout the run wrote into its event file."""
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    assert list(acc.PluginTagToContent("custom_scalars")) == ["custom_scalars__config__"]
    (event,) = acc.Tensors("custom_scalars__config__")
    return layout_pb2.Layout.FromString(event.tensor_proto.string_val[0])


def sample_variance_se(m4: float, variance: float, n: int) -> float:
    """The standard deviation of the unbiased sample variance of n independent terms."""
    return math.sqrt(m4 / n - variance**2 * (n - 3) / (n * (n - 1)))


def test_learned_scale_tags_and_chart_at_the_first_step(make_cfg, tmp_path: Path) -> None:
    """A diagonal scale under J_1 logs every ``scale/`` tag at every step, and the Custom Scalars
    layout has a ``scale`` category whose charts name exactly those tags, σ as a band.

    At step 0 every replicate is at μ = θ0, σ = σ0 in each of D coordinates (d = θ0: the square, k = 0),
    so by REFERENCE ("D dimensions", "Learnable scale", "Entropy term"), per coordinate: pathwise's
    μ-term has mean 2d and variance 4σ0², its s-term mean 2σ0² and variance 4d²σ0² + 8σ0⁴; the
    entropy adds −λ to each s_i, and σ* = √(λ/2). The deterministic tags are checked to float32
    rounding; the estimates within 4 standard errors over the R·D independent coordinates (the
    in-step variances' from the fourth central moments of the terms, by quadrature).
    """
    dim, n, replicates, steps = 3, 4, 2000, 3
    theta0, sigma0, weight = 2.0, 1.5, 1.0
    cfg = make_cfg(
        "estimator=pathwise",
        "objective=square",
        f"dim={dim}",
        "scale=diagonal",
        f"entropy_weight={weight}",
        f"sigma={sigma0}",
        f"theta0={theta0}",
        f"n_samples={n}",
        "lr=0.05",
        f"steps={steps}",
        f"replicates={replicates}",
        "log_every=1",
    )
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and summary["diverged"] == 0
    series = scalars(tmp_path)
    for tag in SCALE_TAGS:
        assert [step for step, _ in series.get(tag, [])] == list(range(steps + 1)), tag
    start = {tag: rows[0][1] for tag, rows in series.items() if rows[0][0] == 0}

    d, s2 = theta0, sigma0**2
    mu_var, s_var = 4 * s2, 4 * d**2 * s2 + 8 * s2**2  # one term's, per coordinate
    exact = {
        "theta/mean": theta0,
        "grad/exact": 2 * d,
        "grad/variance_analytic": dim * mu_var / n,  # the trace 4Dσ²/n
        "scale/mean": sigma0,
        "scale/q05": sigma0,
        "scale/q95": sigma0,
        "scale/grad_exact": 2 * s2 - weight,  # per coordinate, the same in each
        "scale/grad_variance_analytic": dim * s_var / n,
        "scale/rms_error": abs(sigma0 - math.sqrt(weight / 2)),
    }
    for tag, value in exact.items():
        assert start[tag] == pytest.approx(value, rel=1e-6), tag

    units = n * replicates * dim  # terms behind each mean
    _, _, mu_m4 = central_moments(lambda e: 2 * (d + sigma0 * e))
    _, _, s_m4 = central_moments(lambda e: 2 * (d + sigma0 * e) * sigma0 * e)
    estimates = {  # tag: (expected, standard error)
        "grad/mean": (2 * d, math.sqrt(mu_var / units)),
        "scale/grad_mean": (2 * s2 - weight, math.sqrt(s_var / units)),
        # per replicate Σ_i S_i²/n over D independent coordinates; the mean of R replicates
        "grad/variance": (
            dim * mu_var / n,
            math.sqrt(dim / replicates) * sample_variance_se(mu_m4, mu_var, n) / n,
        ),
        "scale/grad_variance": (
            dim * s_var / n,
            math.sqrt(dim / replicates) * sample_variance_se(s_m4, s_var, n) / n,
        ),
    }
    for tag, (expected, se) in estimates.items():
        assert abs(start[tag] - expected) < Z * se, (tag, start[tag], expected, se)

    layout = custom_scalar_layout(tmp_path)
    categories = {category.title: category for category in layout.category}
    assert set(categories) == {"theta", "loss", "gradient", "scale"}
    charted = set()
    for chart in categories["scale"].chart:
        if chart.HasField("margin"):
            (band,) = chart.margin.series
            assert (band.value, band.lower, band.upper) == ("scale/mean", "scale/q05", "scale/q95")
            charted |= {band.value, band.lower, band.upper}
        else:
            charted |= set(chart.multiline.tag)
    assert charted == SCALE_TAGS


@pytest.mark.parametrize(
    "objective,k,estimator", [("cosine", 2.0, "measure_valued"), ("gaussian_bump", 0.5, "pathwise")]
)
def test_no_closed_form_means_no_analytic_tag(
    make_cfg, tmp_path: Path, objective: str, k: float, estimator: str
) -> None:
    """Off the square the code has no closed-form variance for the s-terms, nor for measure-valued's
    μ-terms, and no σ*: those tags are never written, while the in-step estimates beside them are.
    Where a closed form exists it is REFERENCE's ("Other cost functions") at step 0, where every
    replicate has μ_i = θ0, σ_i = σ0: grad/variance_analytic the pathwise variance of exp(−kx²) times
    D/n, and scale/grad_exact = ∂J/∂s = σ ∂J/∂σ of REFERENCE's J, per coordinate."""
    dim, n, theta0, sigma0 = 3, 4, 0.5, 0.8
    cfg = make_cfg(
        f"estimator={estimator}",
        f"objective={objective}",
        f"objective.k={k}",
        f"dim={dim}",
        "scale=diagonal",
        f"sigma={sigma0}",
        f"theta0={theta0}",
        f"n_samples={n}",
        "steps=2",
        "replicates=64",
        "log_every=1",
    )
    train(cfg, tmp_path)
    series = scalars(tmp_path)
    assert {"grad/variance", "scale/grad_variance", "scale/grad_mean", "scale/grad_exact"} <= series.keys()
    assert "scale/grad_variance_analytic" not in series
    assert "scale/rms_error" not in series
    start = {tag: rows[0][1] for tag, rows in series.items() if rows[0][0] == 0}
    s2, t2 = sigma0**2, theta0**2
    if objective == "cosine":  # J = cos(kθ) exp(−k²σ²/2)
        assert "grad/variance_analytic" not in series
        scale_grad = -(k**2) * s2 * math.cos(k * theta0) * math.exp(-(k**2) * s2 / 2)
    else:  # J = b^(−1/2) exp(−kθ²/b), b = 1 + 2kσ²
        a, b = 1 + 4 * k * s2, 1 + 2 * k * s2
        value = b**-0.5 * math.exp(-k * t2 / b)
        g = -2 * k * theta0 * b**-1.5 * math.exp(-k * t2 / b)
        pathwise = 4 * k**2 * (t2 + s2 * a) * math.exp(-2 * k * t2 / a) / a**2.5 - g**2
        assert start["grad/variance_analytic"] == pytest.approx(dim * pathwise / n, rel=1e-5)
        scale_grad = value * 4 * k * s2 * (k * t2 / b**2 - 1 / (2 * b))  # d ln J/db · db/ds
    assert start["scale/grad_exact"] == pytest.approx(scale_grad, rel=1e-5)
