"""The Deployments pages over a real team server with its control plane, and one real
deployment of a small scikit-learn model trained through the SDK against that server.

One module-scoped deployment (a replica takes seconds to load): the list and the detail page
show its status and replicas, the "try it" form is generated from the model's input schema
and, sent the way lepton.js sends it, gets a real prediction; the live chart data fills after
traffic; the drift table compares the sampled requests with the training data; a viewer sees
no button and no form, and the API refuses them anyway.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.dashboard._html import Page
from tests.services import wait_until

import lepton
from lepton import registry
from lepton.deployments import Client
from lepton.workspace import reset

PROJECT = "default"
MODEL = "credit-risk"
NAME = "credit"
FEATURES = ["x1", "x2", "color"]


@dataclass
class Live:
    server: Any
    url: str  # the deployment's own address
    api_key: str  # the deployment's key, shown once at deploy time
    viewer: str
    developer: str

    def get(self, path: str, token: str, **params: Any) -> httpx.Response:
        return httpx.get(self.server.url + path, params=params, headers=auth(token), timeout=30)

    def post(self, path: str, token: str, body: Any) -> httpx.Response:
        return httpx.post(self.server.url + path, json=body, headers=auth(token), timeout=30)


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server with a control plane; the SDK of this process trains a model, registers it
    and deploys it there (sampling every request, for drift), and registers the training data."""
    from tests.live_server import launch, sdk_using

    from lepton.testing import tiny_table

    root = tmp_path_factory.mktemp("deployment-pages")
    server = launch(root / "server-home", rate_limit=0)
    with sdk_using(server, root / "client-home"):
        deployment = None
        try:
            data = tiny_table()
            result = lepton.train(lepton.create_model("logistic_regression"), data, verbose=0)
            version = lepton.register(result.model, MODEL)
            registry.set_alias(MODEL, "production", version.version)
            deployment = lepton.deploy(
                f"{MODEL}@production", name=NAME, config={"sample_rate": 1.0}, wait=False
            )
            # while the replica loads: the training data (its profile pre-fills the try-it
            # form) and a second version (for the Update button)
            data.register(project=PROJECT)
            lepton.register(result.model, MODEL)
            deployment.wait(timeout=120)
            yield Live(
                server,
                deployment.url,
                deployment.api_key,
                viewer=server.make_token("viewer", PROJECT),
                developer=server.make_token("developer", PROJECT),
            )
        finally:
            if deployment is not None:
                deployment.stop()
            reset()
            server.stop()


def form_fields(html: str, form_testid: str) -> list[tuple[str, dict[str, str]]]:
    """The named fields inside the form with ``data-testid=form_testid``."""
    start = html.index(f'data-testid="{form_testid}"')
    body = html[start : html.index("</form>", start)]
    return [(t, a) for t, a in Page("<form " + body).elements if a.get("name")]


def body_of(html: str) -> dict[str, Any]:
    """The JSON lepton.js builds from the try-it form: dotted names nest, number inputs are
    numbers, the selected option of a select, empty values null (data-empty="null")."""
    start = html.index('data-testid="try-it-form"')
    section = html[start : html.index("</form>", start)]
    record: dict[str, Any] = {}
    for tag, attrs in form_fields(html, "try-it-form"):
        value: Any = attrs.get("value", "")
        if tag == "select":
            chosen = re.search(
                rf'name="{re.escape(attrs["name"])}".*?<option value="([^"]*)" selected',
                section,
                re.S,
            )
            value = chosen.group(1) if chosen else ""
        if value == "":
            value = None
        elif attrs.get("type") == "number":
            value = float(value)
        record[attrs["name"].removeprefix("inputs.0.")] = value
    return {"inputs": [record]}


# the tests --------------------------------------------------------------------------------------
def test_the_list_shows_status_and_replicas(live: Live) -> None:
    page = live.get("/deployments", live.viewer)
    assert page.status_code == 200, page.text
    row = page.text[page.text.index('data-name="credit"') :].split("</tr>")[0]
    assert '<span class="badge ok">running</span>' in row
    assert '<td class="num" data-testid="replicas">1/1</td>' in row
    assert f'href="/models/{MODEL}/versions/1"' in row and live.url in row
    assert f"<td>{PROJECT}</td>" in row

    outsider = live.server.make_token("developer", "elsewhere")
    empty = live.get("/deployments", outsider)
    assert (
        "Nothing is deployed yet." in empty.text and "lepton deploy MODEL@production" in empty.text
    )
    assert "credit" not in empty.text


def test_the_detail_page_shows_replicas_model_and_rules(live: Live) -> None:
    rule = live.post(
        f"/api/v1/deployments/{NAME}/alerts",
        live.developer,
        {"metric": "p99_latency_ms", "op": "above", "threshold": 250, "for_seconds": 30},
    )
    assert rule.status_code == 201, rule.text
    page = live.get(f"/deployments/{NAME}", live.viewer)
    assert page.status_code == 200, page.text
    html = page.text
    assert "1 ready of 1 desired" in html
    replica = live.server.state.workspace.get_deployment(NAME).state["replicas"][0]
    assert len(Page(html).find("tr", data_testid="replica")) == 1
    assert f'<td class="num">{replica["pid"]}</td>' in html
    assert f'href="/models/{MODEL}/versions/1" data-testid="deployment-model"' in html
    assert "p99_latency_ms above 250 for 30s" in html and f"/alerts?deployment={NAME}" in html
    for metric in ("qps", "latency", "error_rate"):
        assert f"/deployments/{NAME}/series.json?metric={metric}&amp;since=15m" in html

    missing = live.get("/deployments/nope", live.viewer)
    assert missing.status_code == 404 and "nope" in missing.text
    outsider = live.get(f"/deployments/{NAME}", live.server.make_token("viewer", "elsewhere"))
    assert outsider.status_code == 403 and "viewer" in outsider.text


def test_a_viewer_sees_no_buttons_and_the_api_refuses_them(live: Live) -> None:
    html = live.get(f"/deployments/{NAME}", live.viewer).text
    for hidden in ("deployment-actions", "try-it", "deployment-logs", 'data-method="PATCH"'):
        assert hidden not in html, hidden
    refused = httpx.patch(
        f"{live.server.url}/api/v1/deployments/{NAME}",
        json={"replicas": 2},
        headers=auth(live.viewer),
    )
    assert refused.status_code == 403 and "'developer' role" in refused.json()["error"]["message"]

    html = live.get(f"/deployments/{NAME}", live.developer).text
    page = Page(html)
    patches = page.find("form", data_method="PATCH", data_api=f"/api/v1/deployments/{NAME}")
    assert len(patches) == 3 and all(f.get("data-confirm") for f in patches)
    assert page.find("input", name="replicas", type="number", value="1")
    assert page.find("input", type="hidden", name="desired", value="stopped")
    assert page.find("select", name="model_version", data_type="number")
    assert '<option value="2">credit-risk v2</option>' in html
    assert "[replica-0]" in html  # the logs, for a developer


def test_the_try_it_form_follows_the_schema_and_predicts(live: Live) -> None:
    html = live.get(f"/deployments/{NAME}", live.developer).text
    fields = form_fields(html, "try-it-form")
    assert [a["name"] for _, a in fields] == [f"inputs.0.{f}" for f in FEATURES]
    kinds = {a["name"].removeprefix("inputs.0."): (t, a.get("type")) for t, a in fields}
    assert kinds == {
        "x1": ("input", "number"),
        "x2": ("input", "number"),
        "color": ("select", None),
    }
    assert all(a.get("step") == "any" for t, a in fields if a.get("type") == "number")
    for option in ("red", "green", "blue"):  # the training data's categories
        assert f'<option value="{option}"' in html
    form = Page(html).find("form", data_testid="try-it-form")[0]
    assert (form["data-api"], form["data-then"], form["data-empty"]) == (
        f"/api/v1/deployments/{NAME}/predict",
        "result",
        "null",
    )
    assert Page(html).find("pre", class_="result", data_testid="prediction")
    assert html.count("<label><span>") >= len(FEATURES)  # each field has its label

    body = body_of(html)  # pre-filled from the training profile: a plausible record
    assert isinstance(body["inputs"][0]["x1"], float) and body["inputs"][0]["color"] == "green"
    answer = live.post(form["data-api"], live.developer, body)
    assert answer.status_code == 200, answer.text
    with Client(live.url, live.api_key) as client:  # the deployment's key: the same answer
        assert answer.json()["predictions"] == client.predict(body["inputs"])
    assert answer.json()["model"] == NAME and answer.json()["classes"] == ["no", "yes"]


def test_chart_data_and_drift_follow_the_traffic(live: Live) -> None:
    rows = [{"x1": i / 10, "x2": None, "color": "red"} for i in range(25)]
    assert live.post(
        f"/api/v1/deployments/{NAME}/predict", live.developer, {"inputs": rows}
    ).is_success

    def qps() -> Any:
        answer = live.get(f"/deployments/{NAME}/series.json", live.viewer, metric="qps").json()
        points = answer["series"][0]["points"]
        return answer if any(y > 0 for _, y in points) else None

    answer = wait_until(qps, 30, "a QPS point after traffic")
    assert answer["series"][0]["name"] == "qps"
    x, _ = answer["series"][0]["points"][-1]
    assert abs(x - time.time()) < 120  # x is a unix time
    latency = live.get(f"/deployments/{NAME}/series.json", live.viewer, metric="latency").json()
    assert [s["name"] for s in latency["series"]] == ["p50_latency_ms", "p99_latency_ms"]
    bad = live.get(f"/deployments/{NAME}/series.json", live.viewer, metric="cpu")
    assert bad.status_code == 422 and "Unknown metric" in bad.text

    # every request is sampled (sample_rate=1): the drift table compares them with training
    wait_until(lambda: len(live.server.state.workspace.request_samples(NAME)) >= 25, 30, "samples")
    html = live.get(f"/deployments/{NAME}", live.viewer).text
    drifted = {a["data-feature"] for a in Page(html).find("tr", data_testid="drift-row")}
    assert {"x1", "color", "prediction"} <= drifted <= {*FEATURES, "prediction"}
    row = html[html.index('data-feature="color"') :].split("</tr>")[0]
    assert '<span class="badge bad">drifted</span>' in row  # only "red" came: a shifted mix
