"""Every main page renders in a real Chromium, with its heading, without a console error (the
strict content policy turns any inline script or style into one), at laptop and at phone width,
where nothing may make the page scroll sideways; every link on it leads to a page that answers.
Each page is saved as a screenshot (the whole page at laptop width, the first screen at phone
width) for a person to look over."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from tests.browser._pages import (
    PHONE,
    assert_no_console_errors,
    assert_no_sideways_scroll,
    expect,
    open_page,
    screenshot,
    wait_for_charts,
)
from tests.browser._seed import Site

LINKS = "() => [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href'))"

# name, path (filled from the seeded data), text the page's <h1> holds
PAGES = [
    ("overview", "/", "Overview"),
    ("datasets", "/datasets", "Datasets"),
    ("dataset", "/datasets/{dataset}", "{dataset}"),
    ("runs", "/runs", "Runs"),
    ("run", "/runs/{mlp}", "mlp-credit-train"),
    ("compare", "/runs/compare?ids={lightgbm},{mlp}", "Compare runs"),
    ("models", "/models", "Models"),
    ("model", "/models/{model}", "{model}"),
    ("model-version", "/models/{model}/versions/{production}", "{model} v{production}"),
    ("deployments", "/deployments", "Deployments"),
    ("deployment", "/deployments/{deployment}", "Deployment {deployment}"),
    ("jobs", "/jobs", "Jobs"),
    ("job", "/jobs/{job}", "Job nightly-credit"),
    ("alerts", "/alerts", "Alerts"),
    ("audit", "/audit", "Audit log"),
    ("settings", "/settings", "Settings"),
]


def fill(template: str, site: Site) -> str:
    data = site.data
    return template.format(
        dataset=data.dataset,
        lightgbm=data.runs["lightgbm"],
        mlp=data.runs["mlp"],
        model=data.model,
        production=data.production,
        deployment=data.deployment,
        job=data.job,
    )


@pytest.fixture(scope="module")
def followed() -> set[str]:
    """The links an earlier page's test followed already (each is followed once)."""
    return set()


def assert_links_answer(page: Any, site: Site, followed: set[str]) -> None:
    """Every link of the page to this server answers, read with the signed-in session as a
    click would: no 404 page, no server error (links met on an earlier page are skipped)."""
    here = page.url
    broken = []
    for href in page.evaluate(LINKS):
        url = urljoin(here, href).split("#")[0]
        if urlsplit(url).netloc != urlsplit(site.url).netloc or url in followed:
            continue
        followed.add(url)
        answer = page.request.get(url, max_redirects=0)
        if answer.status >= 400:
            broken.append(f"{url.removeprefix(site.url)} ({answer.status})")
    assert not broken, f"links on {here.removeprefix(site.url)} that lead nowhere: {broken}"


@pytest.mark.parametrize(("name", "path", "heading"), PAGES, ids=[p[0] for p in PAGES])
def test_main_page_renders(
    name: str,
    path: str,
    heading: str,
    site: Site,
    page: Any,
    console: list[str],
    followed: set[str],
) -> None:
    open_page(page, fill(path, site))
    expect(page.locator("h1")).to_contain_text(fill(heading, site))
    wait_for_charts(page)
    screenshot(page, f"{name}-desktop")
    # the same page in a phone's window: the layout follows (CSS), nothing sticks out sideways
    page.set_viewport_size(PHONE)
    expect(page.locator("h1")).to_be_visible()
    screenshot(page, f"{name}-phone", full_page=False)  # the first screen: much faster
    assert_no_console_errors(console, name)
    assert_no_sideways_scroll(page, name)
    assert_links_answer(page, site, followed)


def test_sign_in_page_renders_without_a_menu(anonymous: Any, console: list[str]) -> None:
    open_page(anonymous, "/login")
    expect(anonymous.locator("h1")).to_have_text("Sign in to Lepton")
    expect(anonymous.get_by_role("navigation", name="Main")).to_have_count(0)
    assert_no_console_errors(console, "the sign-in page")
    screenshot(anonymous, "sign-in-desktop")
    anonymous.set_viewport_size(PHONE)
    assert_no_sideways_scroll(anonymous, "the sign-in page")
    screenshot(anonymous, "sign-in-phone", full_page=False)


def test_a_page_without_a_session_asks_to_sign_in(anonymous: Any) -> None:
    anonymous.goto("/runs?status=failed")
    assert "/login?next=" in anonymous.url and "%2Fruns" in anonymous.url


def test_an_unknown_page_is_a_readable_404(page: Any, console: list[str]) -> None:
    open_page(page, "/runs/0000000000000000", status=404)
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.get_by_test_id("error-message")).to_contain_text("0000000000000000")
    expect(page.get_by_role("link", name="Back to the overview")).to_be_visible()
    # the menu is still there to go on from
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs")
    ).to_be_visible()
    # Chromium reports the 404 status itself; nothing else may go wrong
    assert [e for e in console if "404" not in e] == []
