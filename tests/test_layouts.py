"""Each family's Custom Scalars page against the tags its run writes: no empty chart on any page,
and the Bernoulli page charts ln of the single-sample variance beside its closed form."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2

from reparam_opt.training import train

RUNS = {
    "gaussian": [],
    "gaussian learned scale": ["scale=diagonal", "dim=2", "entropy_weight=1"],
    "gaussian no theta star": ["objective=gaussian_bump", "estimator=score"],
    "gaussian no closed form": ["objective=cosine", "estimator=measure_valued"],
    "gaussian one sample": ["n_samples=1"],
    "gaussian quadratic": ["objective=quadratic", "dim=3", "scale=shared"],
    "gaussian elbo": ["objective=linear_regression", "entropy_weight=1", "scale=diagonal", "lr=0.0005"],
    "bernoulli": ["family=bernoulli"],
    "bernoulli relaxed": ["family=bernoulli", "estimator=concrete"],
}


def page_and_tags(run_dir: Path) -> tuple[dict[str, dict[str, list[str]]], set[str]]:
    """The page the run wrote (category → chart → tags) and the scalar tags with points."""
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    (event,) = acc.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(event.tensor_proto.string_val[0])
    page = {}
    for category in layout.category:
        charts = {}
        for chart in category.chart:
            kind = chart.WhichOneof("content")
            content = getattr(chart, kind)
            tags = [s.value for s in content.series] if kind == "margin" else list(content.tag)
            charts[chart.title] = tags
        page[category.title] = charts
    return page, {tag for tag in acc.Tags()["scalars"] if acc.Scalars(tag)}


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNS)
def test_every_chart_on_the_page_has_lines(make_cfg, tmp_path: Path, name: str) -> None:
    train(make_cfg(*RUNS[name], "steps=4", "replicates=8", "log_every=1"), tmp_path)
    page, written = page_and_tags(tmp_path)
    charts = {title: tags for category in page.values() for title, tags in category.items()}
    assert charts and all(page.values())
    empty = {title: tags for title, tags in charts.items() if not tags or not set(tags) <= written}
    assert empty == {}
    assert "loss/monte_carlo" in written and "loss: Monte Carlo estimate vs exact J" in charts


def test_the_bernoulli_page_charts_the_log_variance_beside_its_closed_form(make_cfg, tmp_path: Path) -> None:
    train(make_cfg("family=bernoulli", "steps=4", "replicates=8", "log_every=1"), tmp_path)
    page, _ = page_and_tags(tmp_path)
    assert ["grad/log_variance", "grad/log_variance_analytic"] in page["gradient"].values()
    assert "theta: RMS error" not in page["theta"]  # no θ*: θ → −∞


def test_a_run_without_theta_star_has_no_rms_error_chart(make_cfg, tmp_path: Path) -> None:
    train(make_cfg(*RUNS["gaussian no theta star"], "steps=4", "replicates=8"), tmp_path)
    page, _ = page_and_tags(tmp_path)
    assert "theta: RMS error" not in page["theta"]
    train(make_cfg("steps=4", "replicates=8"), tmp_path / "square")
    assert "theta: RMS error" in page_and_tags(tmp_path / "square")[0]["theta"]
