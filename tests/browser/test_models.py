"""Promoting from the model page: an alias set on a version shows on that version after the
confirmation, and the API agrees; a promotion the project's policies refuse shows the policy's
message and moves nothing."""

from __future__ import annotations

from typing import Any

from tests.browser._pages import assert_no_console_errors, expect, open_page
from tests.browser._seed import Site


def promote(page: Any, model: str, version: int, alias: str) -> tuple[Any, list[str]]:
    """On the model page, fill the promote form of ``version``'s row with ``alias``, submit
    it and accept the confirmation; returns the form and the questions asked."""
    row = page.locator(f'[data-testid="versions-table"] tr[data-version="{version}"]')
    form = row.get_by_role("form", name=f"Set an alias on {model} v{version}")
    form.get_by_label("Alias").fill(alias)
    questions: list[str] = []

    def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    form.get_by_role("button", name=f"Set alias → v{version}").click()
    return form, questions


def test_promote_an_alias_to_another_version(page: Any, site: Site, console: list[str]) -> None:
    model, second = site.data.model, site.data.second
    open_page(page, f"/models/{model}")
    with page.expect_navigation():  # the form reloads the page once the API answered
        _, questions = promote(page, model, second, "staging")
    assert questions == [f"Point this alias at {model} v{second}?"]

    expect(page.locator('[data-testid="aliases"] tr[data-alias="staging"]')).to_contain_text(
        f"v{second}"
    )
    row = page.locator(f'[data-testid="versions-table"] tr[data-version="{second}"]')
    expect(row.locator(".badge", has_text="staging")).to_be_visible()
    with site.api() as api:
        assert api.get(f"/models/{model}/aliases/staging").json()["version"] == second
    assert_no_console_errors(console, "the model page")


def test_a_promotion_the_policies_refuse_shows_why(page: Any, site: Site) -> None:
    model, second = site.data.model, site.data.second
    open_page(page, f"/models/{model}")
    row = page.locator(f'[data-testid="versions-table"] tr[data-version="{second}"]')
    expect(row.get_by_test_id("policy-check")).to_have_attribute("data-passed", "false")
    expect(row.locator('li[data-passed="false"]')).to_contain_text("intended_use")

    form, _ = promote(page, model, second, "production")
    status = form.get_by_role("alert")
    expect(status).to_contain_text("policies of project 'credit'")
    expect(status).to_contain_text("intended_use")
    expect(status).to_have_class("form-status error")
    with site.api() as api:
        production = api.get(f"/models/{model}/aliases/production").json()["version"]
    assert production == site.data.production
    expect(page.locator('[data-testid="aliases"] tr[data-alias="production"]')).to_contain_text(
        f"v{site.data.production}"
    )
