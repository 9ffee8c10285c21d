"""The Alerts page over a live team server: rules made through the REST API, their history
after a forced firing, the create form and delete buttons by role, masked webhooks, and the
empty states.

No control plane runs (a deployment is only a record here, so nothing slow starts): the rules
fire through ``monitoring._alerts.evaluate``, the very function the control plane calls after
each scrape, against the server's own store.
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
from tests.live_server import LiveServer, launch, sdk_using

import lepton
from lepton.monitoring._alerts import METRICS, OPS, evaluate
from lepton.workspace import reset

API = "/api/v1"
PROJECT = "default"
SECRET = "T000-SECRET-TOKEN"
WEBHOOK = f"https://hooks.example.com/services/{SECRET}?channel=ops"


@dataclass
class Site:
    server: LiveServer
    viewer: str
    developer: str
    quiet: str  # id of the rule with a webhook, which never fires here
    loud: str  # id of the rule that fired and resolved

    def page(self, token: str, path: str = "/alerts", **params: Any) -> str:
        reply = httpx.get(self.server.url + path, params=params, headers=auth(token), timeout=30)
        assert reply.status_code == 200, reply.text
        return reply.text

    def api(self, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method, self.server.url + path, json=body, headers=auth(token), timeout=30
        )


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A model trained and registered through the SDK, deployed as ``credit`` (a record, with
    no control plane) and ``other`` in project ``elsewhere``; two rules on ``credit``."""
    from lepton.testing import tiny_table

    root = tmp_path_factory.mktemp("alert-pages")
    server = launch(root / "server-home", rate_limit=0, control_plane=False)
    with sdk_using(server, root / "client-home"):
        try:
            result = lepton.train(
                lepton.create_model("logistic_regression"), tiny_table(), verbose=0
            )
            lepton.register(result.model, "credit-risk")
            admin = auth(server.admin_token)
            for name, project in (("credit", PROJECT), ("other", "elsewhere")):
                body = {"project": project, "model_name": "credit-risk", "model_version": 1}
                saved = httpx.put(f"{server.url}{API}/deployments/{name}", json=body, headers=admin)
                assert saved.status_code == 200, saved.text
            rules = [
                {"metric": "error_rate", "op": "above", "threshold": 0.5, "webhook": WEBHOOK},
                {"metric": "qps", "op": "above", "threshold": 1, "for_seconds": 0},
            ]
            ids = []
            for rule in rules:
                made = httpx.post(
                    f"{server.url}{API}/deployments/credit/alerts", json=rule, headers=admin
                )
                assert made.status_code == 201, made.text
                ids.append(made.json()["id"])
            # two scrapes: busy (qps 5 > 1: fires), then quiet (resolves)
            evaluate(server.state.workspace, "credit", {"qps": 5.0})
            time.sleep(0.05)  # events are ordered by their time
            evaluate(server.state.workspace, "credit", {"qps": 0.0})
            yield Site(
                server,
                viewer=server.make_token("viewer", PROJECT),
                developer=server.make_token("developer", PROJECT),
                quiet=ids[0],
                loud=ids[1],
            )
        finally:
            reset()
            server.stop()


def row(html: str, testid: str, rule_id: str) -> str:
    start = html.index(f'data-testid="{testid}" data-rule="{rule_id}"')
    return html[start : html.index("</tr>", start)]


# the tests --------------------------------------------------------------------------------------
def test_rules_and_their_history_newest_first(site: Site) -> None:
    html = site.page(site.viewer)
    assert "error_rate above 0.5 for 0s" in row(html, "alert-rule", site.quiet)
    loud = row(html, "alert-rule", site.loud)
    assert "qps above 1 for 0s" in loud and '<span class="badge ok">ok</span>' in loud
    assert '<a href="/deployments/credit">credit</a>' in loud

    events = re.findall(r'data-testid="alert-event" data-rule="(\w+)"', html)
    assert events == [site.loud, site.loud]  # the quiet rule never fired
    history = html[html.index('data-testid="alert-history"') :]
    resolved, fired = history.split('data-testid="alert-event"')[1:3]
    assert '<span class="badge ok">resolved</span>' in resolved
    assert '<span class="badge bad">firing</span>' in fired and "(value 5)" in fired
    assert time.strftime("%Y-%m-%d", time.gmtime()) in fired  # when, in UTC


def test_webhooks_are_shown_up_to_their_host(site: Site) -> None:
    for token in (site.viewer, site.developer, site.server.admin_token):
        html = site.page(token)
        assert "<code>https://hooks.example.com/…</code>" in row(html, "alert-rule", site.quiet)
        assert SECRET not in html and "channel=ops" not in html
    assert SECRET not in site.page(site.developer, "/deployments/credit")


def test_a_viewer_gets_no_form_and_the_api_refuses_one(site: Site) -> None:
    html = site.page(site.viewer)
    assert 'data-testid="create-rule"' not in html and 'data-method="DELETE"' not in html
    assert 'data-testid="delete-rule"' not in site.page(site.viewer, "/deployments/credit")
    body = {"metric": "qps", "op": "above", "threshold": 3}
    refused = site.api("POST", f"{API}/deployments/credit/alerts", site.viewer, body)
    assert refused.status_code == 403 and "'developer' role" in refused.text
    refused = site.api("DELETE", f"{API}/alerts/{site.loud}", site.viewer)
    assert refused.status_code == 403


def test_a_developer_creates_and_deletes_a_rule_with_the_forms(site: Site) -> None:
    html = site.page(site.developer)
    page = Page(html)
    # one form for every deployment the caller may change: lepton.js puts the chosen one
    # into the URL (only credit here: other is in a project the developer cannot change)
    (form,) = page.find("form", data_api=f"{API}/deployments/{{deployment}}/alerts")
    assert form["data-method"] == "POST"
    section = html[html.index('data-testid="create-rule"') :].split("</form>")[0]
    assert re.findall(r'<option value="(\w+)"', section) == ["credit", *METRICS, *OPS]
    names = [a["name"] for t, a in Page(section).elements if a.get("name")]
    assert names == ["deployment", "metric", "op", "threshold", "for_seconds", "webhook"]
    assert section.count("<label>") == len(names)

    # what lepton.js sends from it: numbers as numbers, the empty webhook left out
    url = form["data-api"].replace("{deployment}", "credit")
    body = {"metric": "p99_latency_ms", "op": "above", "threshold": 250.0, "for_seconds": 60.0}
    made = site.api("POST", url, site.developer, body)
    assert made.status_code == 201, made.text
    rule_id = made.json()["id"]
    html = site.page(site.developer)
    assert "p99_latency_ms above 250 for 60s" in row(html, "alert-rule", rule_id)

    (delete,) = Page(html).find("form", data_api=f"{API}/alerts/{rule_id}")
    assert delete["data-method"] == "DELETE" and "Delete the rule" in delete["data-confirm"]
    assert site.api("DELETE", delete["data-api"], site.developer).status_code == 204
    assert rule_id not in site.page(site.developer)


def test_a_deployment_page_link_chooses_the_deployment_of_the_form(site: Site) -> None:
    html = site.page(site.developer, "/deployments/credit")
    assert 'href="/alerts?deployment=credit#create"' in html
    html = site.page(site.server.admin_token, deployment="other")  # an admin of every project
    section = html[html.index('name="deployment"') :].split("</select>")[0]
    assert re.findall(r'<option value="(\w+)"( selected)?>', section) == [
        ("credit", ""),
        ("other", " selected"),
    ]


def test_empty_states_name_the_command_that_fills_them(site: Site) -> None:
    html = site.page(site.server.make_token("viewer", "elsewhere"))  # sees other, no rule
    assert "No alert rule yet" in html
    assert "lepton alerts create --deployment other --metric error_rate --above 0.05" in html
    html = site.page(site.server.make_token("viewer", "nowhere"))
    assert "nothing is deployed yet" in html and "lepton deploy MODEL@production" in html
    assert "credit" not in html and "other" not in html.split("<main")[1]
