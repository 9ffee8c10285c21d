"""The deployment page drives the real deployment: "try it" sends a prediction through the
server to a replica and shows the answer; Scale asks first, then the API has the new count."""

from __future__ import annotations

import json
from typing import Any

from tests.browser._pages import assert_no_console_errors, expect, open_page
from tests.browser._seed import Site
from tests.services import wait_until

from lepton.demo import credit_table


def test_try_it_returns_a_prediction(page: Any, site: Site, console: list[str]) -> None:
    name = site.data.deployment
    with site.api() as api:  # the replica started while the suite was seeded
        wait_until(
            lambda: api.get(f"/deployments/{name}").json()["status"] == "running",
            60,
            "the deployment to run",
        )
    open_page(page, f"/deployments/{name}")
    form = page.get_by_role("form", name="Try a prediction")
    application = credit_table(rows=1, seed=7).iloc[0].to_dict()
    fields = form.locator("[data-column]")
    expect(fields.first).to_be_visible()
    filled = []
    for index in range(fields.count()):  # one labelled field per column of the input schema
        field = fields.nth(index)
        column = str(field.get_attribute("data-column"))
        value = str(application[column])
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
        expect(form.get_by_label(column, exact=False).first).to_have_value(value)
        filled.append(column)
    assert "income" in filled and "sex" not in filled, filled  # sex was kept out of training
    form.get_by_role("button", name="Predict").click()
    result = form.get_by_test_id("prediction")
    expect(result).not_to_be_empty()
    answer = json.loads(result.inner_text())
    assert len(answer["predictions"]) == 1 and answer["predictions"][0] in ("yes", "no"), answer
    expect(form.get_by_role("alert")).to_have_text("Done.")
    assert_no_console_errors(console, "the deployment page")


def test_scale_asks_then_changes_the_replicas(page: Any, site: Site) -> None:
    name = site.data.deployment
    with site.api() as api:
        assert api.get(f"/deployments/{name}").json()["replicas"] == 1  # as seeded
    open_page(page, f"/deployments/{name}")
    form = page.get_by_role("form", name="Scale")
    expect(form.get_by_label("Replicas")).to_have_value("1")
    form.get_by_label("Replicas").fill("2")
    questions: list[str] = []

    def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    with page.expect_navigation():
        form.get_by_role("button", name="Scale").click()
    assert questions == [f"Change the number of replicas of {name}?"]
    with site.api() as api:
        assert api.get(f"/deployments/{name}").json()["replicas"] == 2
    expect(page.get_by_test_id("deployment-replicas")).to_contain_text("of 2 desired")


def test_dismissing_the_question_changes_nothing(page: Any, site: Site) -> None:
    name = site.data.deployment
    open_page(page, f"/deployments/{name}")
    with site.api() as api:
        before = api.get(f"/deployments/{name}").json()["replicas"]
        form = page.get_by_role("form", name="Scale")
        form.get_by_label("Replicas").fill(str(before + 3))
        page.once("dialog", lambda dialog: dialog.dismiss())
        form.get_by_role("button", name="Scale").click()
        page.wait_for_timeout(300)
        assert api.get(f"/deployments/{name}").json()["replicas"] == before
