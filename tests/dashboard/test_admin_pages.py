"""The Audit log and Settings pages on a live team server, by role: an admin sees the audit
trail (filtered, verified) and manages users, keys and secrets; a viewer gets the 403 page
on /audit and only their own account on /settings. A secret's value never reaches a page.
The pages' forms are sent to the REST API the way the page script sends them, so their
addresses and field names are checked against the real routes."""

from __future__ import annotations

import html as markup
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from tests.live_server import LiveServer, launch

MARKER = "s3cr3t-value-MARKER-7f1d"  # the value of a secret: it must never appear in a page


@dataclass
class Site:
    server: LiveServer
    developer: str  # keys of users with that role in project "p"
    viewer: str

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        return httpx.get(self.server.url + path, headers=auth(token or self.admin), timeout=30)

    @property
    def admin(self) -> str:
        return self.server.admin_token

    def api(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.server.url + "/api/v1", headers=auth(token or self.admin))


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from lepton.security._crypto import MasterKey

    home = tmp_path_factory.mktemp("admin-pages")
    (home / "master.key").write_text(MasterKey.generate().to_text())  # secrets need one
    server = launch(home)
    try:
        live = Site(
            server,
            server.make_token("developer", "p", name="dev"),
            server.make_token("viewer", "p", name="watcher"),
        )
        with live.api() as api:
            for project in ("p", "q"):
                assert api.post("/projects", json={"name": project}).status_code == 201
            answer = api.put("/projects/p/secrets/DB_PASSWORD", json={"value": MARKER})
            assert answer.status_code == 200, answer.text
        with live.api(live.viewer) as api:  # a refused change: a "denied" entry of the trail
            assert api.post("/users", json={"name": "mallory"}).status_code == 403
        yield live
    finally:
        server.stop()


# the page's forms, as lepton.js sends them ------------------------------------------------------
class Forms(HTMLParser):
    """The forms of a page that call the API (data-api), with their fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and "data-api" in values:
            self.forms.append({**values, "fields": {}})
        elif tag in ("input", "select", "textarea") and self.forms and "name" in values:
            self.forms[-1]["fields"][values["name"]] = values

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.forms:
            self.forms[-1]["closed"] = True


def api_forms(html: str) -> list[dict[str, Any]]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def the_form(html: str, label: str) -> dict[str, Any]:
    found = [f for f in api_forms(html) if f.get("aria-label") == label]
    assert len(found) == 1, [f.get("aria-label") for f in api_forms(html)]
    return found[0]


def send(site: Site, token: str, form: dict[str, Any], values: dict[str, Any]) -> httpx.Response:
    """What lepton.js does on submit: {field} of the address from the fields, the other
    named fields (empty ones left out, numbers as numbers) as the JSON body."""
    fields = {
        name: values.get(name, spec.get("value", "")) for name, spec in form["fields"].items()
    }
    assert set(values) <= set(fields), f"the form has no field {set(values) - set(fields)}"
    in_url = set(re.findall(r"\{(\w+)\}", form["data-api"]))
    url = re.sub(r"\{(\w+)\}", lambda m: str(fields[m.group(1)]), form["data-api"])
    body = {
        name: float(value) if form["fields"][name].get("type") == "number" else value
        for name, value in fields.items()
        if name not in in_url and value != ""
    }
    method = form["data-method"]
    content = None if method in ("GET", "DELETE") else body
    return httpx.request(
        method, site.server.url + url, json=content, headers=auth(token), timeout=30
    )


# audit ------------------------------------------------------------------------------------------
def audit_rows(html: str) -> list[str]:
    return re.findall(r"<tr data-seq=\"\d+\">(.*?)</tr>", html, re.S)


def test_an_admin_sees_the_audit_log_filtered(site: Site) -> None:
    page = site.get("/audit")
    assert page.status_code == 200
    html = page.text
    assert '<a href="/audit" aria-current="page">Audit log</a>' in html
    assert 'data-testid="audit-table"' in html and len(audit_rows(html)) >= 4
    assert "PUT /projects/{project}/secrets/{name}" in html

    denied = audit_rows(site.get("/audit?outcome=denied").text)
    assert denied and all('class="badge bad">denied' in row for row in denied)
    assert any("watcher" in row and "POST /users" in row for row in denied)

    watcher = audit_rows(site.get("/audit?actor=watcher").text)
    assert len(watcher) == 1 and "403" in watcher[0]
    secrets = audit_rows(site.get("/audit?action=SECRETS").text)  # contains, any case
    assert len(secrets) == 1 and '{"secret":"DB_PASSWORD"}' in markup.unescape(secrets[0])
    only_p = audit_rows(site.get("/audit?project=p&outcome=ok").text)
    assert only_p and all("<td>p</td>" in row for row in only_p)

    future = site.get("/audit?since=2999-01-01&actor=watcher").text
    assert audit_rows(future) == [] and "No entry matches these filters." in future
    assert 'value="2999-01-01"' in future and '<a href="/audit">Clear filters</a>' in future


def test_audit_pages_and_action_search_page_on(site: Site) -> None:
    with site.api() as api:  # enough entries for three pages of two
        for n in range(5):
            assert api.post("/users", json={"name": f"paged-{n}"}).status_code == 201
    first = site.get("/audit?action=post+/users&limit=2").text
    assert len(audit_rows(first)) == 2 and "paged-4" in first and "paged-3" in first
    older = re.search(r'href="\?offset=(\d+)&amp;limit=2&amp;action=post\+%2Fusers">Older', first)
    assert older is not None
    second = site.get(f"/audit?action=post+/users&limit=2&offset={older.group(1)}").text
    assert "paged-2" in second and "paged-1" in second and "paged-4" not in second
    assert "← Newest" in second

    plain = site.get("/audit?limit=2&offset=2").text
    assert "?offset=0&amp;limit=2" in plain and "?offset=4&amp;limit=2" in plain


def test_bad_audit_filters_are_clear_error_pages(site: Site) -> None:
    bad_date = site.get("/audit?since=yesterday")
    assert bad_date.status_code == 422
    assert "expected YYYY-MM-DD" in bad_date.text
    bad_outcome = site.get("/audit?outcome=maybe")
    assert bad_outcome.status_code == 422 and "expected ok, denied, failed" in bad_outcome.text


def test_the_chain_verifies(site: Site) -> None:
    html = site.get("/audit").text
    form = the_form(html, "Verify the audit chain")
    assert (form["data-api"], form["data-method"], form["data-then"]) == (
        "/api/v1/audit/verify",
        "GET",
        "result",
    )
    answer = send(site, site.admin, form, {})
    assert answer.status_code == 200 and answer.json()["ok"] is True
    assert answer.json()["problems"] == []
    # without script the same form reloads the page with the verdict on it
    verdict = site.get("/audit?verify=1").text
    assert 'data-testid="audit-verdict"' in verdict and "The chain is intact" in verdict


def test_a_viewer_gets_the_403_page_on_the_audit_log(site: Site) -> None:
    page = site.get("/audit", site.viewer)
    assert page.status_code == 403
    text = markup.unescape(page.text)
    assert "You do not have access to this" in text
    assert "needs the 'admin' role on this server" in text
    assert 'data-testid="audit-table"' not in text
    assert 'href="/audit"' not in site.get("/settings", site.viewer).text  # nor in the menu


# settings ---------------------------------------------------------------------------------------
def test_an_admin_sees_every_section(site: Site) -> None:
    html = site.get("/settings").text
    for section in ("settings-account", "settings-users", "settings-secrets", "keys-table"):
        assert f'data-testid="{section}"' in html, section
    users = re.findall(r'<tr data-user="([^"]+)">', html)
    assert {"admin", "dev", "watcher"} <= set(users)
    watcher = html[html.index('<tr data-user="watcher">') :].split("</tr>")[0]
    assert "viewer in p" in watcher and 'class="badge ok">active' in watcher
    assert 'data-api="/api/v1/users/watcher/roles/p" data-method="DELETE"' in watcher
    assert 'data-api="/api/v1/users/watcher/disable" data-method="POST"' in watcher
    assert 'data-confirm="Disable watcher?' in watcher
    labels = {f.get("aria-label") for f in api_forms(html)}
    assert {"Create a user", "Grant a role", "Set a secret in p", "Delete DB_PASSWORD"} <= labels


def test_admin_forms_reach_the_api(site: Site) -> None:
    html = site.get("/settings").text
    made = send(site, site.admin, the_form(html, "Create a user"), {"name": "newbie"})
    assert made.status_code == 201, made.text
    grant = the_form(html, "Grant a role")
    answer = send(site, site.admin, grant, {"user": "newbie", "project": "q", "role": "developer"})
    assert answer.status_code == 200 and answer.json()["roles"] == {"q": "developer"}
    answer = send(site, site.admin, grant, {"user": "newbie", "project": "*", "role": "viewer"})
    assert answer.json()["roles"] == {"q": "developer", "*": "viewer"}

    after = site.get("/settings").text
    row = after[after.index('<tr data-user="newbie">') :].split("</tr>")[0]
    assert "developer in q" in row and "viewer in every project (*)" in row
    removed = send(site, site.admin, the_form(after, "Remove the role of newbie in *"), {})
    assert removed.status_code == 200 and removed.json()["roles"] == {"q": "developer"}
    disabled = send(site, site.admin, the_form(after, "Disable newbie"), {})
    assert disabled.json()["disabled"] is True
    row = site.get("/settings").text.split('<tr data-user="newbie">')[1].split("</tr>")[0]
    assert 'class="badge idle">disabled' in row and "Enable" in row

    key = send(
        site,
        site.admin,
        the_form(after, "Create an API key for a user"),
        {
            "user": "newbie",
            "name": "first",
        },
    )
    assert key.status_code == 201 and key.json()["record"]["user"] == "newbie"


def test_a_viewer_sees_only_their_account(site: Site) -> None:
    page = site.get("/settings", site.viewer)
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="account-name">watcher<' in html and "viewer in project p" in html
    assert 'data-testid="settings-users"' not in html and '/api/v1/users"' not in html
    assert 'data-testid="settings-secrets"' not in html and "/secrets" not in html
    # the only buttons that change something are the viewer's own password and keys
    targets = {(f["data-method"], f["data-api"]) for f in api_forms(html)}
    assert targets <= {
        ("POST", "/api/v1/users/watcher/password"),
        ("POST", "/api/v1/tokens"),
        *{("DELETE", f"/api/v1/tokens/{k}") for k in re.findall(r'data-key="(\w+)"', html)},
    }
    assert ("POST", "/api/v1/tokens") in targets
    # and asking for a project's secrets by name is refused with the 403 page
    assert site.get("/settings?project=p", site.viewer).status_code == 403


def test_a_token_made_through_the_api_shows_in_my_keys(site: Site) -> None:
    token = site.server.make_token("viewer", "q", name="keyholder")
    with site.api(token) as api:
        made = api.post("/tokens", json={"name": "ci-runner", "expires_in_days": 30})
    assert made.status_code == 201
    record, secret_key = made.json()["record"], made.json()["key"]
    html = site.get("/settings", token).text
    row = html[html.index(f'<tr data-key="{record["id"]}">') :].split("</tr>")[0]
    assert "ci-runner" in row and f"<code>{record['prefix']}…</code>" in row
    assert 'class="badge ok">active' in row and "never" not in row
    assert secret_key not in html  # a key is shown once, when made, and never on a page
    assert "(used for this page)" in html  # the key this request was sent with

    revoke = the_form(html, "Revoke key ci-runner")
    assert revoke["data-confirm"].startswith("Revoke key ci-runner")
    assert send(site, token, revoke, {}).status_code == 200
    row = site.get("/settings", token).text.split(f'<tr data-key="{record["id"]}">')[1]
    assert 'class="badge idle">revoked' in row.split("</tr>")[0]
    assert "Revoke</button>" not in row.split("</tr>")[0]

    create = the_form(html, "Create an API key")
    answer = send(site, token, create, {"name": "laptop", "expires_in_days": "7"})
    assert answer.status_code == 201 and answer.json()["record"]["expires_at"] > time.time()
    assert 'data-testid="new-key"' in html  # where the page shows the new key, once


def test_my_password_form_matches_the_api(site: Site) -> None:
    html = site.get("/settings", site.developer).text
    form = the_form(html, "Change my password")
    assert form["data-api"] == "/api/v1/users/dev/password" and form["data-method"] == "POST"
    assert set(form["fields"]) == {"current_password", "password"}
    assert all(f["type"] == "password" for f in form["fields"].values())
    with site.api() as api:  # an admin sets the first password; the user changes it after
        first = api.post("/users/dev/password", json={"password": "first-password-1"})
    if first.status_code in (404, 405):
        pytest.skip("the password route is not on this server yet")
    assert first.status_code == 200, first.text
    wrong = send(site, site.developer, form, {"current_password": "nope", "password": "x" * 12})
    assert wrong.status_code in (401, 403) and "password" in wrong.text.lower()
    changed = {"current_password": "first-password-1", "password": "second-password-2"}
    assert send(site, site.developer, form, changed).status_code == 200


def test_a_developer_lists_secrets_but_cannot_change_them(site: Site) -> None:
    html = site.get("/settings", site.developer).text
    assert 'data-testid="secrets-table"' in html and "<code>DB_PASSWORD</code>" in html
    assert "Only an admin of project p can set or delete its secrets." in html
    assert "/secrets/" not in html  # no set or delete form
    assert 'data-testid="settings-users"' not in html


def test_an_admin_sets_and_deletes_secrets_through_the_forms(site: Site) -> None:
    html = site.get("/settings?project=p").text
    form = the_form(html, "Set a secret in p")
    assert form["data-api"] == "/api/v1/projects/p/secrets/{name}"
    assert form["fields"]["value"]["type"] == "password"
    assert form["fields"]["value"]["autocomplete"] == "off"
    answer = send(site, site.admin, form, {"name": "API_TOKEN", "value": MARKER + "-2"})
    assert answer.status_code == 200 and "value" not in answer.json()
    html = site.get("/settings?project=p").text
    assert "<code>API_TOKEN</code>" in html
    assert send(site, site.admin, the_form(html, "Delete API_TOKEN"), {}).status_code == 204
    empty = site.get("/settings?project=q").text
    assert "No secret in project q yet." in empty and "lepton secrets set NAME --project q" in empty
    assert site.get("/settings?project=nowhere").status_code == 404


def test_a_secret_value_never_reaches_a_page(site: Site) -> None:
    # every page of the menu, as the admin, plus the views of this file that name the secret
    menu = re.findall(r'<li><a href="(/[a-z]*)"', site.get("/").text)
    assert "/settings" in menu and "/audit" in menu
    for path in menu:
        assert MARKER not in site.get(path).text, path
    for token, path in (
        (site.admin, "/audit?action=secrets&verify=1"),
        (site.admin, "/settings?project=p"),
        (site.developer, "/settings"),
    ):
        page = site.get(path, token)
        assert page.status_code == 200 and "DB_PASSWORD" in page.text, path
        assert MARKER not in page.text, path
    with site.api() as api:
        trail = api.get("/audit", params={"limit": 1000}).text
    assert "DB_PASSWORD" in trail and MARKER not in trail
