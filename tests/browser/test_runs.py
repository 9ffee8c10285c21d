"""The run page of the MLP draws one chart per metric, and the chart holds exactly the points
the training logged (one per epoch), as the API returns them; the compare page overlays the
curves of several runs on one chart."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.browser._pages import assert_no_console_errors, expect, open_page, wait_for_charts
from tests.browser._seed import EPOCHS, Site


def logged_points(site: Site, run_id: str) -> dict[str, int]:
    """How many points of each metric the run logged, by the API."""
    with site.api() as api:
        history = api.get(f"/runs/{run_id}/metrics").json()
    return dict(Counter(key for key, _step, _ts, _value in history))


def test_metric_charts_show_every_logged_epoch(page: Any, site: Site, console: list[str]) -> None:
    run_id = site.data.runs["mlp"]
    logged = logged_points(site, run_id)
    assert logged["loss"] == logged["val_loss"] == EPOCHS, logged

    open_page(page, f"/runs/{run_id}")
    wait_for_charts(page)
    for key in ("loss", "val_loss", "val_roc_auc"):
        chart = page.locator(f'[data-testid="metric-chart"][data-metric="{key}"]')
        expect(chart.locator("figure")).to_have_attribute("data-loaded", "true")
        series = chart.locator("path.series")
        expect(series).to_have_count(1)
        expect(series).to_have_attribute("data-series", key)
        expect(series).to_have_attribute("data-count", str(logged[key]))
        expect(chart.locator("circle.point")).to_have_count(logged[key])
        expect(chart.get_by_role("img", name=key)).to_be_visible()  # the plot is labelled
    assert_no_console_errors(console, "the run page")


def test_a_failed_run_shows_its_error(page: Any, site: Site) -> None:
    open_page(page, f"/runs/{site.data.runs['failed']}")
    expect(page.locator("h1")).to_contain_text("failed")
    expect(page.get_by_test_id("run-error")).to_contain_text("Column 'income' has no values")


def test_compare_overlays_the_runs_on_one_chart(page: Any, site: Site, console: list[str]) -> None:
    runs = [site.data.runs["lightgbm"], site.data.runs["mlp"]]
    counts = [logged_points(site, run)["val_roc_auc"] for run in runs]
    open_page(page, f"/runs/compare?ids={','.join(runs)}")
    wait_for_charts(page)
    chart = page.locator('[data-testid="compare-charts"] [data-metric="val_roc_auc"]')
    series = chart.locator("path.series")
    expect(series).to_have_count(2)  # one curve per run, in the order asked for
    assert [int(str(series.nth(i).get_attribute("data-count"))) for i in range(2)] == counts
    expect(page.get_by_test_id("compare-params").locator("tr.diff").first).to_be_visible()
    assert_no_console_errors(console, "the compare page")
