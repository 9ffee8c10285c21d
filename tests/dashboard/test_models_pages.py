"""The model pages against a live server with real models: two logistic regressions trained
through the SDK on a generated loans table with a sensitive ``sex`` column, evaluated (report,
plots, fairness) and registered; one blind to ``sex`` (passes the project's policies), one that
uses it (breaks the fairness policy), and one registered without a report."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

API = "/api/v1"
PROJECT = "risk"
MODEL = "credit-risk"
POLICIES = [
    {"rule": "min_metric", "metric": "roc_auc", "value": 0.6},
    {
        "rule": "max_fairness",
        "metric": "demographic_parity_difference",
        "feature": "sex",
        "value": 0.2,
    },
]
FAIR, BIASED, NO_REPORT = 1, 2, 3  # the versions

# LogisticRegression's float32 probabilities sum to 1 only within float32 precision, and
# scikit-learn's log_loss warns about it; not what these tests look at
pytestmark = pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one:UserWarning")


# a small HTML reader: enough to find elements by attribute and read their text --------------------
@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str]

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join(" ".join(parts).split())

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        found = []
        for child in self.children:
            if isinstance(child, Element):
                wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
                if (tag is None or child.tag == tag) and all(
                    child.attrs.get(k) == v for k, v in wanted.items()
                ):
                    found.append(child)
                found += child.find_all(tag, **attrs)
        return found

    def find(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag or '*'} {attrs}> on the page"
        return found[0]


VOID = {"input", "img", "br", "meta", "link", "hr", "option", "source", "wbr"}


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Element("root", {}, [])
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, [])
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    reader = _Reader()
    reader.feed(html)
    return reader.root


# the world --------------------------------------------------------------------------------------
@dataclass
class World:
    server: Any
    admin: str
    developer: str
    viewer: str
    outsider: str
    train_run: str
    dataset_version: str
    sdk: Any  # a context manager: the SDK of this process pointed at the server

    def get(self, path: str, token: str | None = None, session: str = "") -> httpx.Response:
        """GET ``path`` with an API key (``token``), or as a browser does with a session cookie."""
        from lepton.security._sessions import SESSION_COOKIE

        if session:
            headers = {"cookie": f"{SESSION_COOKIE}={session}"}
        else:
            headers = {"authorization": f"Bearer {token or self.admin}"}
        return httpx.get(f"{self.server.url}{path}", headers=headers, timeout=30)

    def session(self, token: str) -> str:
        """The cookie of a dashboard session signed in with API key ``token``."""
        return str(self.server.state.security.sign_in_with_key(token).token)

    def page(self, path: str, token: str | None = None, session: str = "") -> Element:
        reply = self.get(path, token, session)
        assert reply.status_code == 200, reply.text[:2000]
        assert reply.headers["content-type"].startswith("text/html")
        return parse(reply.text)


def loans(rows: int = 400) -> Any:
    """Whether a loan was repaid: by income, and (unfairly) by sex."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    sex = rng.choice(["F", "M"], size=rows)
    income = rng.normal(size=rows)
    debt = rng.normal(size=rows)
    score = income - 0.5 * debt + 1.6 * (sex == "M") + rng.normal(scale=0.6, size=rows)
    label = np.where(score > 0.8, "repaid", "default")
    return pd.DataFrame({"income": income, "debt": debt, "sex": sex, "label": label})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from tests.live_server import launch, sdk_using

    import lepton
    from lepton.data import Dataset
    from lepton.workspace import reset

    root = tmp_path_factory.mktemp("models-pages")
    server = launch(root / "server-home", control_plane=False)

    @contextlib.contextmanager
    def sdk() -> Iterator[None]:
        with sdk_using(server, root / "client-home") as patch:
            patch.setenv("LEPTON_PROJECT", PROJECT)
            patch.chdir(root)
            try:
                yield
            finally:
                reset()

    try:
        with sdk():
            data = Dataset.from_pandas(loans(), target="label", name="loans")
            stored = data.register(PROJECT)
            blind = data.exclude_features("sex")
            fair = lepton.train(lepton.create_model("logistic_regression"), blind, verbose=0)
            biased = lepton.train(lepton.create_model("logistic_regression"), data, verbose=0)
            for result in (fair, biased):
                report = lepton.evaluate(result.model, data, sensitive_features=["sex"])
                lepton.register(result.model, MODEL, report=report)
            lepton.register(fair.model, MODEL, description="registered without a report")
        admin = {"authorization": f"Bearer {server.admin_token}"}
        reply = httpx.put(
            f"{server.url}{API}/projects/{PROJECT}/policies",
            json={"policies": POLICIES},
            headers=admin,
        )
        assert reply.status_code == 200, reply.text
        reply = httpx.put(
            f"{server.url}{API}/deployments/loans-api",
            json={"project": PROJECT, "model_name": MODEL, "model_version": FAIR},
            headers=admin,
        )
        assert reply.status_code == 200, reply.text
        yield World(
            server=server,
            admin=server.admin_token,
            developer=server.make_token("developer", PROJECT),
            viewer=server.make_token("viewer", PROJECT),
            outsider=server.make_token("developer", "elsewhere"),
            train_run=fair.run_id,
            dataset_version=stored.version,
            sdk=sdk,
        )
    finally:
        server.stop()


def form_body(form: Element, **typed: Any) -> dict[str, Any]:
    """The JSON body lepton.js sends for ``form`` (its fields, typed by data-type), with the
    fields the user types (``typed``); fields that fill the URL's {placeholders} are left out."""
    body: dict[str, Any] = {}
    for field in form.find_all("input"):
        name, value = field.attrs.get("name"), typed.get(field.attrs.get("name", ""))
        if not name or f"{{{name}}}" in form.attrs["data-api"]:
            continue
        value = field.attrs.get("value", "") if value is None else value
        if value == "":
            continue
        kind = field.attrs.get("data-type")
        body[name] = json.loads(value) if kind == "json" else int(value) if kind else value
    return body


def version_row(page: Element, version: int) -> Element:
    return page.find("table", data_testid="versions-table").find("tr", data_version=str(version))


# the list ---------------------------------------------------------------------------------------
def test_the_list_shows_each_model_with_its_latest_version(world: World) -> None:
    page = world.page("/models", world.viewer)
    assert page.find("h1").text() == "Models"
    row = page.find("table", data_testid="models-table").find("tr", data_model=MODEL)
    cells = [td.text() for td in row.find_all("td")]
    assert cells[:4] == [MODEL, PROJECT, f"v{NO_REPORT}", "3"]
    assert row.find("a", href=f"/models/{MODEL}/versions/{NO_REPORT}")

    # someone with no role in the project sees no model, and the command that registers one
    empty = world.page("/models", world.outsider)
    assert not empty.find_all("table", data_testid="models-table")
    assert "lepton models register" in empty.find("div", data_testid="empty").text()


# one model: versions, policy checks, promotion ----------------------------------------------------
def test_the_policy_check_shown_is_what_the_api_decides(world: World) -> None:
    from lepton.governance import check_policies

    session = world.session(world.developer)  # the forms are submitted as a browser does
    page = world.page(f"/models/{MODEL}", session=session)
    shown = {}
    for version in (FAIR, BIASED, NO_REPORT):
        check = version_row(page, version).find("div", data_testid="policy-check")
        shown[version] = {
            li.attrs["data-policy"]: li.attrs["data-passed"] == "true"
            for li in check.find_all("li")
        }
        assert (check.attrs["data-passed"] == "true") == all(shown[version].values())
    names = ["roc_auc >= 0.6", "demographic_parity_difference <= 0.2 (sex)"]
    assert shown[FAIR] == dict.fromkeys(names, True)
    assert shown[BIASED] == {names[0]: True, names[1]: False}
    assert shown[NO_REPORT] == dict.fromkeys(names, False)
    reasons = version_row(page, NO_REPORT).find("div", data_testid="policy-check").text()
    assert "No evaluation report was registered" in reasons

    # the SDK, pointed at the server, reaches the same verdicts for the same reasons
    for version in (FAIR, BIASED, NO_REPORT):
        with world.sdk():
            sdk = check_policies(f"{MODEL}:{version}")
        api = world.get(f"{API}/models/{MODEL}/versions/{version}/policy-check", world.viewer)
        assert api.status_code == 200, api.text
        assert api.json()["results"] == [r.to_dict() for r in sdk.results]
        assert {r.policy: r.passed for r in sdk.results} == shown[version]

    # submitting each version's form to production: the API lets the passing one through and
    # refuses the failing one with its policy message (what the form's status then shows)
    from lepton.security._sessions import CSRF_HEADER, SESSION_COOKIE

    csrf = page.find("meta", name="csrf-token").attrs["content"]
    headers = {"cookie": f"{SESSION_COOKIE}={session}", CSRF_HEADER: csrf}
    for version, allowed in ((FAIR, True), (BIASED, False)):
        form = version_row(page, version).find("form")
        assert form.attrs["data-method"] == "PUT" and form.attrs["data-confirm"]
        url = form.attrs["data-api"].replace("{alias}", "production")
        reply = httpx.put(
            f"{world.server.url}{url}", json=form_body(form, alias="production"), headers=headers
        )
        if allowed:
            assert reply.status_code == 200, reply.text
        else:
            assert reply.status_code == 403, reply.text
            error = reply.json()["error"]
            assert error["code"] == "policy_violation"
            assert "demographic_parity_difference <= 0.2 (sex)" in error["message"]
            assert "roc_auc" not in error["message"]  # it passed, and the form said so

    # with an override reason the API records the move, and the page shows who, when and why
    form = version_row(page, BIASED).find("form")
    body = form_body(form, alias="production", override_reason="urgent fix, reviewed by risk")
    url = form.attrs["data-api"].replace("{alias}", "production")
    reply = httpx.put(f"{world.server.url}{url}", json=body, headers=headers)
    assert reply.status_code == 200 and reply.json() == {"previous": FAIR}
    page = world.page(f"/models/{MODEL}", session=session)
    aliases = page.find("table", data_testid="aliases").find("tr", data_alias="production")
    assert f"v{BIASED}" in aliases.text()
    latest = page.find("table", data_testid="alias-history").find("tbody").find_all("tr")[0]
    cells = [td.text() for td in latest.find_all("td")]
    assert cells[1:4] == ["production", f"v{FAIR}", f"v{BIASED}"]
    assert cells[4].startswith("user-")  # the developer's user, from the session
    assert cells[5:] == ["1 of 2 passed", "urgent fix, reviewed by risk"]
    policies = page.find("section", data_testid="policies").text()
    assert "demographic_parity_difference <= 0.2 (sex)" in policies

    # demoting: the alias row's form removes it
    remove = aliases.find("form")
    assert remove.attrs["data-method"] == "DELETE" and remove.attrs["data-confirm"]
    reply = httpx.delete(f"{world.server.url}{remove.attrs['data-api']}", headers=headers)
    assert reply.status_code == 200 and reply.json() == {"previous": BIASED}
    gone = world.get(f"{API}/models/{MODEL}/aliases/production", world.viewer)
    assert gone.status_code == 404


def test_the_model_page_lists_versions_with_runs_metrics_and_deployments(world: World) -> None:
    page = world.page(f"/models/{MODEL}", world.viewer)
    assert page.find("h1").text() == MODEL
    table = page.find("table", data_testid="versions-table")
    versions = [tr.attrs["data-version"] for tr in table.find("tbody").find_all("tr")]
    assert versions == [str(NO_REPORT), str(BIASED), str(FAIR)]  # newest first
    fair = version_row(page, FAIR)
    assert fair.find("a", href=f"/runs/{world.train_run}")
    assert fair.find("a", href="/deployments/loans-api")
    headers = [th.text() for th in table.find("thead").find_all("th")]
    assert "roc_auc" in headers


def test_a_viewer_sees_no_forms_and_the_api_refuses_their_promotion(world: World) -> None:
    for path in (f"/models/{MODEL}", f"/models/{MODEL}/versions/{FAIR}"):
        page = world.page(path, world.viewer)
        assert not [f for f in page.find_all("form") if "data-api" in f.attrs]
        assert page.find_all("div", data_testid="policy-check")  # the check is still shown
    developer = world.page(f"/models/{MODEL}/versions/{FAIR}", world.developer)
    assert [f for f in developer.find_all("form") if "data-api" in f.attrs]

    reply = httpx.put(
        f"{world.server.url}{API}/models/{MODEL}/aliases/staging",
        json={"version": FAIR},
        headers={"authorization": f"Bearer {world.viewer}"},
    )
    assert reply.status_code == 403 and "'developer' role" in reply.json()["error"]["message"]


# one version: report, card, lineage ---------------------------------------------------------------
def test_the_version_page_shows_the_report_with_fairness_and_plots(world: World) -> None:
    from lepton.evaluation import load_report
    from lepton.registry import get_version

    with world.sdk():
        report = load_report(get_version(f"{MODEL}:{BIASED}").info.evaluation_run_id)
    page = world.page(f"/models/{MODEL}/versions/{BIASED}", world.viewer)
    assert page.find("h1").text() == f"{MODEL} v{BIASED}"

    metrics = page.find("table", data_testid="metrics-table")
    auc = metrics.find("tr", data_metric="roc_auc").find_all("td")[1].text()
    assert auc == f"{report.metrics['roc_auc']:.4g}"

    table = page.find("table", data_testid="fairness-table", data_feature="sex")
    groups = report.fairness["sex"]["groups"]
    for group in ("F", "M"):
        cells = [td.text() for td in table.find("tr", data_group=group).find_all("td")]
        assert cells[0] == group
        assert f"{groups[group]['selection_rate']:.4g}" in cells
        assert f"{groups[group]['tpr']:.4g}" in cells and f"{groups[group]['fpr']:.4g}" in cells
    # the difference that breaks the fairness policy is highlighted, with the policy named
    summary = page.find("dl", data_testid="fairness-summary", data_feature="sex")
    gap = summary.find("dd", data_key="demographic_parity_difference")
    assert (
        gap.find("mark").text() == f"{report.fairness['sex']['demographic_parity_difference']:.4g}"
    )
    assert "breaks demographic_parity_difference <= 0.2 (sex)" in gap.text()
    assert not summary.find("dd", data_key="demographic_parity_ratio").find_all("mark")

    images = page.find("div", data_testid="report-plots").find_all("img")
    titles = {img.attrs["alt"].split(" of ")[0] for img in images}
    assert {"ROC curve", "Precision-recall curve", "Calibration", "Confusion matrix"} <= titles
    session = world.session(world.viewer)
    for img in images:
        assert img.attrs["src"].startswith(f"{API}/runs/")
        for picture in (
            world.get(img.attrs["src"], world.viewer),
            world.get(img.attrs["src"], session=session),
        ):
            assert picture.status_code == 200, picture.text
            assert picture.headers["content-type"] == "image/png"
            assert picture.content.startswith(b"\x89PNG")


def test_the_version_page_shows_the_card_schema_and_lineage(world: World) -> None:
    page = world.page(f"/models/{MODEL}/versions/{FAIR}", world.developer)
    card = page.find("section", data_testid="model-card")
    assert "intended_use, owners" in card.find("p", data_testid="card-missing").text()
    form = card.find("form", data_testid="card-form")
    assert form.attrs["data-method"] == "PATCH"
    assert form.attrs["data-api"] == f"{API}/models/{MODEL}/versions/{FAIR}"
    fields = [t.attrs["name"] for t in form.find_all("textarea")]
    assert fields == [
        "card.intended_use",
        "card.owners",
        "card.out_of_scope_use",
        "card.limitations",
        "card.ethical_considerations",
        "card.caveats",
    ]
    # what the form sends is what the API stores; the page then shows nothing missing
    body = {"card": {"intended_use": "Pre-screening loans", "owners": "risk team"}}
    reply = httpx.patch(
        f"{world.server.url}{form.attrs['data-api']}",
        json=body,
        headers={"authorization": f"Bearer {world.developer}"},
    )
    assert reply.status_code == 204, reply.text
    card = world.page(f"/models/{MODEL}/versions/{FAIR}", world.viewer).find(
        "section", data_testid="model-card"
    )
    assert not card.find_all("p", data_testid="card-missing")
    assert "Pre-screening loans" in card.find("dl", data_testid="card-fields").text()

    schema = page.find("section", data_testid="input-schema")
    features = {tr.attrs["data-feature"] for tr in schema.find("tbody").find_all("tr")}
    assert features == {"income", "debt"}  # sex was kept out of this model's inputs

    lineage = page.find("div", data_testid="lineage")
    links = [a.attrs["href"] for a in lineage.find_all("a")]
    assert links == [
        "/deployments/loans-api",
        f"/runs/{world.train_run}",
        f"/datasets/loans?version={world.dataset_version}&project={PROJECT}",
    ]
    assert page.find("a", data_testid="bundle-link").attrs["href"] == (
        f"{API}/models/{MODEL}/versions/{FAIR}/bundle"
    )


def test_a_version_without_a_report_says_how_to_add_one(world: World) -> None:
    page = world.page(f"/models/{MODEL}/versions/{NO_REPORT}", world.viewer)
    empty = page.find("section", data_testid="evaluation").find("div", data_testid="empty")
    assert "report=lepton.evaluate(" in empty.text()
    assert (
        "No evaluation report was registered" in page.find("div", data_testid="policy-check").text()
    )


# failures -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    ["/models/no-such-model", f"/models/{MODEL}/versions/99", "/models/no-such-model/versions/1"],
)
def test_unknown_models_and_versions_are_404_pages(world: World, path: str) -> None:
    reply = world.get(path, world.viewer)
    assert reply.status_code == 404 and reply.headers["content-type"].startswith("text/html")
    page = parse(reply.text)
    assert page.find("h1").text() == "Not found"
    assert page.find("p", data_testid="error-message").text()


def test_a_model_of_another_project_is_a_403_page(world: World) -> None:
    reply = world.get(f"/models/{MODEL}/versions/{FAIR}", world.outsider)
    assert reply.status_code == 403
    assert "'viewer' role" in parse(reply.text).find("p", data_testid="error-message").text()
    assert world.get(f"/models/{MODEL}", world.outsider).status_code == 403


def test_pages_need_a_sign_in(world: World) -> None:
    reply = httpx.get(f"{world.server.url}/models/{MODEL}", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/login?next=")
