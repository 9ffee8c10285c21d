"""The runs pages of the dashboard against a live server holding real runs made through the
SDK (remote mode): the runs table with its filters, sorting and paging, one run (params, error,
charts, artifacts, lineage, child runs), the comparison page, and the charts' JSON."""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.live_server import LiveServer, launch, sdk_using

import lepton
from lepton.server.dashboard.pages.runs import MAX_POINTS
from lepton.workspace import reset
from lepton.workspace._remote import RemoteWorkspace

# a 1x1 PNG and a tiny SVG, logged as artifacts that the run page shows inline
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'
BASELINE_LOSS = [1.0, 0.8, 0.6, 0.5, 0.45]
BETTER_LOSS = [0.9, 0.5, 0.3, 0.2, 0.1]
LONG_POINTS = 5000
RUNS = {"baseline", "better", "broken", "long", "secret-run", "child-eval"}  # ended ones


@dataclass
class Site:
    url: str
    live: LiveServer
    ids: dict[str, str] = field(default_factory=dict)
    viewer_alpha: str = ""
    model_version: int = 0

    def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        """GET a page with ``token`` (default: the admin's); ``params`` go in the query."""
        headers = {"authorization": f"Bearer {token or self.live.admin_token}"}
        return httpx.get(self.url + path, params=params, headers=headers, timeout=30)


def _log_run(name: str, project: str, params: dict[str, Any], loss: list[float]) -> str:
    with lepton.start_run(name, project=project) as run:
        run.log_params(params)
        for step, value in enumerate(loss):
            run.log_metrics({"loss": value, "accuracy": 1 - value / 2}, step=step)
    return run.id


def register_model(live: LiveServer, bundle: Path, run_id: str) -> int:
    """A model version of ``run_id``, registered in the server's store. (Training one through
    the SDK takes longer than this whole file may: the registry's own suites cover that.)"""
    bundle.write_bytes(b"a stand-in bundle")
    info = {
        "run_id": run_id,
        "bundle_sha256": hashlib.sha256(bundle.read_bytes()).hexdigest(),
        "size": bundle.stat().st_size,
        "model": "logistic_regression",
        "family": "sklearn",
        "task": "classification",
        "datasets": [],
        "params": {},
        "metrics": {},
        "input_schema": None,
        "evaluation_run_id": None,
        "card": {},
        "tags": {},
        "description": "",
    }
    return live.state.workspace.register_model_version("credit-risk", "alpha", bundle, info).version


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A live server with runs in two projects, made through the SDK of this process."""
    root = tmp_path_factory.mktemp("dashboard-runs")
    live = launch(root / "server")
    site = Site(live.url, live)
    with sdk_using(live, root / "client"):
        site.ids["baseline"] = _log_run(
            "baseline", "alpha", {"lr": 0.1, "depth": 3, "seed": 7}, BASELINE_LOSS
        )
        site.ids["better"] = _log_run("better", "alpha", {"lr": 0.01, "depth": 3}, BETTER_LOSS)
        with pytest.raises(ValueError), lepton.start_run("broken", project="alpha") as run:
            run.log_param("lr", 5.0)
            raise ValueError("the input had 3 rows with a negative age")
        site.ids["broken"] = run.id
        with lepton.start_run("long", project="alpha") as run:
            for step in range(LONG_POINTS):
                run.log_metric("loss", 1 / (step + 1), step=step)
        site.ids["long"] = run.id
        with lepton.start_run("secret-run", project="beta") as run:
            run.log_param("lr", 0.5)
        site.ids["secret"] = run.id
        workspace = RemoteWorkspace(live.url, live.admin_token)
        with lepton.start_run("child-eval", project="alpha", parent=site.ids["baseline"]) as run:
            run.log_metric("auc", 0.91)
        site.ids["child"] = run.id
        folder = root / "files"
        folder.mkdir()
        (folder / "roc.png").write_bytes(PNG)
        (folder / "shape.svg").write_bytes(SVG)
        (folder / "notes.txt").write_text("hello")
        for file, path in (("roc.png", "plots/roc.png"), ("shape.svg", "plots/shape.svg"),
                           ("notes.txt", "notes.txt")):  # fmt: skip
            workspace.log_artifact(site.ids["baseline"], folder / file, path)
        workspace.add_run_inputs(site.ids["baseline"], [("dataset", "credit", "ab" * 32)])
        live_run = workspace.create_run("beta", "still-running")  # never ended
        workspace.log_metrics([(live_run.id, "loss", 0, time.time(), 0.7)])
        site.ids["running"] = live_run.id
        workspace.close()
        reset()
    site.model_version = register_model(live, root / "bundle.lepton", site.ids["baseline"])
    site.viewer_alpha = live.make_token("viewer", "alpha")
    yield site
    live.stop()


def text_of(response: httpx.Response) -> str:
    """The page's text with tags removed and entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def row_names(response: httpx.Response) -> list[str]:
    """The run names of the runs table, top to bottom."""
    rows = re.findall(r'<tr data-testid="run-row".*?</tr>', response.text, re.S)
    return [html.unescape(re.search(r'<a href="/runs/\w+">([^<]+)</a>', r).group(1)) for r in rows]


# the runs table ----------------------------------------------------------------------------------
def test_runs_table_lists_the_runs_with_status_and_metrics(site: Site) -> None:
    page = site.get("/runs")
    assert page.status_code == 200
    assert 'data-testid="runs-table"' in page.text
    names = row_names(page)
    assert set(names) == {*RUNS, "still-running"}
    assert names[0] == "still-running"  # newest first
    text = text_of(page)
    assert "failed" in text and "finished" in text
    # the most common metric columns with each run's latest value, and key params
    assert re.search(r'data-testid="sort-metric:loss"', page.text)
    row = re.search(rf'<tr data-testid="run-row" data-run-id="{site.ids["better"]}".*?</tr>',
                    page.text, re.S).group(0)  # fmt: skip
    assert ">0.1<" in row and ">0.01<" in row  # final loss, the lr param
    # checkboxes of a plain GET form lead to the comparison page
    assert 'action="/runs/compare"' in page.text and 'name="ids"' in page.text


def test_filters_narrow_the_table(site: Site) -> None:
    assert set(row_names(site.get("/runs", project="beta"))) == {"secret-run", "still-running"}
    assert row_names(site.get("/runs", status="running")) == ["still-running"]
    assert row_names(site.get("/runs", status="failed")) == ["broken"]
    assert row_names(site.get("/runs", q="BETT")) == ["better"]  # any case, part of the name
    assert row_names(site.get("/runs", q=site.ids["long"][:10])) == ["long"]  # an id prefix
    nothing = site.get("/runs", q="no-such-run")
    assert "No run matches these filters" in text_of(nothing)
    # empty form fields mean "any"
    assert len(row_names(site.get("/runs", project="", status="", q=""))) == 7


def test_bad_filters_are_readable_error_pages(site: Site) -> None:
    bad_status = site.get("/runs", status="paused")
    assert bad_status.status_code == 422
    assert "Unknown run status 'paused'" in text_of(bad_status)
    bad_sort = site.get("/runs", sort="colour")
    assert bad_sort.status_code == 422 and "Cannot sort runs by 'colour'" in text_of(bad_sort)
    unknown_project = site.get("/runs", project="gamma")
    assert unknown_project.status_code == 404 and "gamma" in text_of(unknown_project)


def test_sorting_changes_the_order(site: Site) -> None:
    by_loss = row_names(site.get("/runs", project="alpha", sort="metric:loss", order="asc"))
    # long ends at 1/5000, better at 0.1, baseline at 0.45; runs without loss come last
    assert by_loss[:3] == ["long", "better", "baseline"]
    assert set(by_loss[3:]) == {"broken", "child-eval"}
    by_loss_desc = row_names(site.get("/runs", project="alpha", sort="metric:loss"))
    assert by_loss_desc[:3] == ["baseline", "better", "long"]
    by_name = row_names(site.get("/runs", sort="name", order="asc"))
    assert by_name == sorted(by_name)
    oldest_first = row_names(site.get("/runs", sort="started", order="asc"))
    assert oldest_first[0] == "baseline" and oldest_first[-1] == "still-running"
    # the header of the sorted column links to the other direction
    page = site.get("/runs", sort="name", order="asc")
    assert 'aria-sort="ascending"' in page.text
    assert re.search(r'href="\?sort=name&amp;order=desc"', page.text)


def test_the_table_is_paged(site: Site) -> None:
    first = row_names(site.get("/runs", limit=4))
    second_page = site.get("/runs", limit=4, offset=4)
    second = row_names(second_page)
    assert len(first) == 4 and len(second) == 3 and not set(first) & set(second)
    assert "Runs 5–7 of 7" in text_of(second_page)
    assert "← Previous" in second_page.text
    assert "Next →" in site.get("/runs", limit=4).text


def test_a_viewer_sees_only_their_projects_runs(site: Site) -> None:
    names = row_names(site.get("/runs", token=site.viewer_alpha))
    assert "secret-run" not in names and "baseline" in names
    refused = site.get("/runs", token=site.viewer_alpha, project="beta")
    assert refused.status_code == 403
    assert "needs the 'viewer' role in project 'beta'" in text_of(refused)


# one run -----------------------------------------------------------------------------------------
def test_run_page_shows_params_metrics_artifacts_and_lineage(site: Site) -> None:
    run_id = site.ids["baseline"]
    page = site.get(f"/runs/{run_id[:8]}")  # a unique prefix is enough
    assert page.status_code == 200
    text = text_of(page)
    assert "baseline" in text and "alpha" in text and run_id in text
    assert "lr 0.1" in text and "depth 3" in text and "Seed 7" in text
    # one chart per metric, refreshing only while the run runs
    charts = re.findall(r'data-testid="metric-chart" data-metric="(\w+)"', page.text)
    assert charts == ["accuracy", "loss"]
    assert f"/runs/{run_id}/metrics.json?key=loss" in html.unescape(page.text)
    assert '"refresh":0' in html.unescape(page.text)
    # artifacts: sizes and download links through the API; images inline
    assert f'href="/api/v1/runs/{run_id}/artifacts/notes.txt"' in page.text
    assert "5 B" in text
    assert f'src="/runs/{run_id}/images/plots/roc.png"' in page.text
    assert f'src="/runs/{run_id}/images/plots/shape.svg"' in page.text
    # lineage: a dataset input the server does not hold is named, not linked (a registered
    # one links to its page: the browser suite follows those); the run's environment
    assert f'href="/datasets/credit?version={"ab" * 32}"' not in page.text
    assert (
        f'credit version <code>{"ab" * 6}</code> <span class="muted">(not registered)</span>'
        in page.text
    )
    assert "python" in text
    # the child run
    assert f'href="/runs/{site.ids["child"]}"' in page.text and "child-eval" in text
    assert f'<input type="hidden" name="ids" value="{run_id}">' in page.text


def test_run_page_links_the_models_registered_from_it(site: Site) -> None:
    page = site.get(f"/runs/{site.ids['baseline']}")
    link = f'href="/models/credit-risk/versions/{site.model_version}"'
    assert link in page.text and "credit-risk version 1" in text_of(page)
    other = site.get(f"/runs/{site.ids['better']}")
    assert "No model registered from this run" in text_of(other)


def test_a_running_runs_charts_refresh(site: Site) -> None:
    page = site.get(f"/runs/{site.ids['running']}")
    assert '"refresh":5' in html.unescape(page.text)
    assert "so far" in text_of(page) and 'data-testid="run-error"' not in page.text
    by_duration = row_names(site.get("/runs", sort="duration"))
    assert by_duration[-1] == "still-running"  # no duration yet: sorted last


def test_a_failed_run_shows_its_error_in_an_alert(site: Site) -> None:
    page = site.get(f"/runs/{site.ids['broken']}")
    block = re.search(r'<section class="card alert" role="alert".*?</section>', page.text, re.S)
    assert block is not None
    assert "ValueError: the input had 3 rows with a negative age" in html.unescape(block.group(0))
    assert "No metric logged yet" in text_of(page)


def test_a_child_run_links_to_its_parent(site: Site) -> None:
    page = site.get(f"/runs/{site.ids['child']}")
    assert f'<a href="/runs/{site.ids["baseline"]}">baseline</a>' in page.text


def test_image_artifacts_are_served_with_their_type(site: Site) -> None:
    run_id = site.ids["baseline"]
    png = site.get(f"/runs/{run_id}/images/plots/roc.png")
    assert png.status_code == 200 and png.content == PNG
    assert png.headers["content-type"] == "image/png"
    svg = site.get(f"/runs/{run_id}/images/plots/shape.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and svg.content == SVG
    assert "sandbox" in svg.headers["content-security-policy"]
    not_image = site.get(f"/runs/{run_id}/images/notes.txt")
    assert not_image.status_code == 422 and "not an image artifact" in text_of(not_image)
    missing = site.get(f"/runs/{run_id}/images/plots/nope.png")
    assert missing.status_code == 404


def test_unknown_run_is_a_404_page(site: Site) -> None:
    page = site.get("/runs/deadbeefdead")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "deadbeefdead" in text_of(page) and "Not found" in text_of(page)


def test_a_viewer_of_another_project_cannot_open_the_run(site: Site) -> None:
    page = site.get(f"/runs/{site.ids['secret']}", token=site.viewer_alpha)
    assert page.status_code == 403
    assert "secret-run" not in page.text and "0.5" not in text_of(page)
    chart = site.get(f"/runs/{site.ids['secret']}/metrics.json", site.viewer_alpha, key="lr")
    assert chart.status_code == 403
    overlaid = site.get(
        f"/runs/{site.ids['baseline']}/metrics.json",
        site.viewer_alpha,
        key="loss",
        compare=site.ids["secret"],
    )
    assert overlaid.status_code == 403


# the charts' JSON --------------------------------------------------------------------------------
def test_metrics_json_returns_the_logged_points(site: Site) -> None:
    answer = site.get(f"/runs/{site.ids['baseline']}/metrics.json", key="loss")
    assert answer.status_code == 200
    series = answer.json()["series"]
    assert [s["name"] for s in series] == ["loss"] and series[0]["sampled"] is False
    assert series[0]["points"] == [[step, value] for step, value in enumerate(BASELINE_LOSS)]


def test_metrics_json_overlays_compared_runs(site: Site) -> None:
    answer = site.get(
        f"/runs/{site.ids['baseline']}/metrics.json",
        key="loss",
        compare=f"{site.ids['better']},{site.ids['baseline']}",
    ).json()
    assert [s["name"] for s in answer["series"]] == ["baseline", "better"]
    assert answer["series"][1]["points"] == [[i, v] for i, v in enumerate(BETTER_LOSS)]


def test_metrics_json_samples_a_long_run_at_even_steps(site: Site) -> None:
    series = site.get(f"/runs/{site.ids['long']}/metrics.json", key="loss").json()["series"][0]
    points = series["points"]
    assert series["sampled"] is True and MAX_POINTS - 1 <= len(points) <= MAX_POINTS
    assert points[0] == [0, 1.0] and points[-1] == [LONG_POINTS - 1, 1 / LONG_POINTS]
    steps = [step for step, _ in points]
    assert steps == sorted(set(steps))
    gaps = [b - a for a, b in itertools.pairwise(steps)]
    assert max(gaps) <= 2 * LONG_POINTS / MAX_POINTS  # evenly spread
    assert all(value == 1 / (step + 1) for step, value in points)  # logged points, not averages


def test_a_sample_of_sparse_steps_ends_with_the_latest_point(site: Site) -> None:
    workspace = site.live.state.workspace
    run = workspace.create_run("alpha", "sparse-steps")
    workspace.log_metrics([(run.id, "gain", i * i, 0.0, float(i)) for i in range(3000)])
    workspace.log_metrics([(run.id, "gain", 2999 * 2999, 1.0, -1.0)])  # the last step again
    workspace.end_run(run.id, "finished")
    answer = site.get(f"/runs/{run.id}/metrics.json", key="gain").json()["series"][0]
    points = answer["points"]
    assert answer["sampled"] and len(points) <= MAX_POINTS
    assert points[0] == [0, 0.0] and points[-1] == [2999 * 2999, -1.0]  # the newest value
    assert all(value == step**0.5 for step, value in points[:-1])


# comparing -----------------------------------------------------------------------------------------
def test_compare_page_shows_runs_side_by_side(site: Site) -> None:
    ids = [site.ids["baseline"], site.ids["better"]]
    page = site.get("/runs/compare", ids=",".join(ids))
    assert page.status_code == 200
    text = text_of(page)
    assert "baseline" in text and "better" in text
    params = re.search(r'data-testid="compare-params".*?</table>', page.text, re.S).group(0)
    lr = re.search(r'<tr class="diff" data-key="lr">.*?</tr>', params, re.S)
    assert lr is not None and "<mark>0.1</mark>" in lr.group(0)  # different: marked
    depth = re.search(r'<tr data-key="depth">.*?</tr>', params, re.S)
    assert depth is not None and "<mark>" not in depth.group(0)  # the same: not marked
    assert "seed" in params  # only one run has it: a difference too
    metrics = re.search(r'data-testid="compare-metrics".*?</table>', page.text, re.S).group(0)
    assert "0.45" in metrics and "0.1" in metrics
    src = html.unescape(re.search(r'"src":\s*"([^"]+)"', html.unescape(page.text)).group(1))
    assert src == f"/runs/{ids[0]}/metrics.json?key=accuracy&compare={ids[1]}"


def test_compare_takes_checkbox_style_ids_and_reports_problems(site: Site) -> None:
    both = httpx.get(
        f"{site.url}/runs/compare?ids={site.ids['baseline']}&ids={site.ids['broken']}",
        headers={"authorization": f"Bearer {site.live.admin_token}"},
    )
    assert both.status_code == 200 and "broken" in text_of(both)
    assert "Pick two or more runs" in text_of(site.get("/runs/compare"))
    unknown = site.get("/runs/compare", ids=f"{site.ids['baseline']},cafecafe")
    assert unknown.status_code == 404 and "cafecafe" in text_of(unknown)
    too_many = site.get("/runs/compare", ids=",".join(f"{i:08x}" for i in range(11)))
    assert too_many.status_code == 422 and "at most 10" in text_of(too_many)


# an empty workspace --------------------------------------------------------------------------------
def test_empty_workspace_shows_the_command_that_fills_it(tmp_path: Path) -> None:
    live = launch(tmp_path / "empty")
    try:
        page = httpx.get(
            f"{live.url}/runs", headers={"authorization": f"Bearer {live.admin_token}"}
        )
    finally:
        live.stop()
    assert page.status_code == 200
    assert 'data-testid="empty"' in page.text
    assert "lepton train --data credit.csv --target default" in text_of(page)


def test_pages_need_a_sign_in(site: Site) -> None:
    page = httpx.get(f"{site.url}/runs?status=failed", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fruns%3Fstatus%3Dfailed"
