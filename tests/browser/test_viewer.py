"""A viewer sees the pages but no control that changes anything: no audit log in the menu and
a 403 page at /audit, no promote, card, scale, stop or try-it forms; and the server refuses a
change sent straight from the page's own script with the session's CSRF token."""

from __future__ import annotations

from typing import Any

from tests.browser._pages import expect, open_page
from tests.browser._seed import Site

# the forms that call the REST API to change something (GET forms only read)
CHANGING_FORMS = "form[data-api]:not([data-method='GET'])"


def test_a_viewer_has_no_audit_log(page_as: Any) -> None:
    tab = page_as("viewer")
    open_page(tab, "/")
    menu = tab.get_by_role("navigation", name="Main")
    expect(menu.get_by_role("link", name="Runs")).to_be_visible()
    expect(menu.get_by_role("link", name="Audit log")).to_have_count(0)

    open_page(tab, "/audit", status=403)
    expect(tab.locator("h1")).to_have_text("You do not have access to this")
    expect(tab.get_by_test_id("error-message")).to_contain_text("admin")


def test_a_viewer_gets_no_control_that_changes_anything(page_as: Any, site: Site) -> None:
    tab = page_as("viewer")
    data = site.data
    pages = {
        f"/models/{data.model}": "Set alias",
        f"/models/{data.model}/versions/{data.production}": "Save the card",
        f"/deployments/{data.deployment}": "Scale",
        "/alerts": "Delete",
    }
    for path, button in pages.items():
        open_page(tab, path)
        expect(tab.locator("h1")).not_to_be_empty()
        assert tab.locator(CHANGING_FORMS).count() == 0, (
            f"{path} shows a viewer forms that change things: "
            + ", ".join(
                tab.locator(CHANGING_FORMS).evaluate_all("fs => fs.map(f => f.dataset.api)")
            )
        )
        expect(tab.get_by_role("button", name=button)).to_have_count(0)
    # what a viewer may see is still there
    open_page(tab, f"/models/{data.model}")
    expect(tab.get_by_test_id("policy-check").first).to_be_visible()
    open_page(tab, f"/deployments/{data.deployment}")
    expect(tab.get_by_test_id("try-it")).to_have_count(0)
    expect(tab.get_by_test_id("deployment-replicas")).to_be_visible()


def test_the_server_refuses_a_viewer_s_change_sent_from_the_page(page_as: Any, site: Site) -> None:
    tab = page_as("viewer")
    model = site.data.model
    open_page(tab, f"/models/{model}")
    answer = tab.evaluate(
        """async ([url, version]) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const response = await fetch(url, {
                method: "PUT", credentials: "same-origin",
                headers: {"content-type": "application/json", "x-csrf-token": csrf},
                body: JSON.stringify({version}),
            });
            return {status: response.status, csrf, body: await response.json()};
        }""",
        [f"/api/v1/models/{model}/aliases/canary", site.data.second],
    )
    assert answer["csrf"], "the page carries no CSRF token for its session"
    assert answer["status"] == 403, answer
    assert "developer" in answer["body"]["error"]["message"], answer  # the role, not the token
    with site.api() as api:
        assert api.get(f"/models/{model}/aliases/canary").status_code == 404
