"""Fixtures of the browser suite: one Chromium and one seeded team server for this folder, and
per test a fresh browser context signed in through the real sign-in form. Package scope, not
session: Playwright's event loop runs in the main thread until it stops, and the tests after
this folder call ``asyncio.run``.

The folder is skipped, with the reason, when Playwright or Chromium is missing (see
``_pages.py``, which every test module imports first).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.browser._seed import Site, seed

TIMEOUT_MS = 15_000  # a page that hangs fails its test in seconds, not after pytest's timeout


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this folder's tests ``browser`` (``-m "not browser"`` leaves them out)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A team server with its control plane, seeded through the SDK like ``lepton demo``."""
    from tests.live_server import launch

    root = tmp_path_factory.mktemp("browser-site")
    live = launch(root / "server-home", control_plane=True)
    try:
        work = root / "client"
        work.mkdir()
        site = Site(live.url, live, seed(live, work))
        yield site
    finally:
        _stop(live)


def _stop(live: Any) -> None:
    """Stop the deployments and the server; the server's control plane ends their replicas
    (processes) on the way out, and any that outlived it is stopped by its pid."""
    from tests.services import stop_pid

    pids: list[int] = []
    with httpx.Client(
        base_url=f"{live.url}/api/v1", headers={"authorization": f"Bearer {live.admin_token}"}
    ) as api:
        for info in api.get("/deployments").json():
            pids += [
                r["pid"] for r in (info.get("state") or {}).get("replicas", []) if r.get("pid")
            ]
            api.patch(f"/deployments/{info['name']}", json={"desired": "stopped"})
    live.stop()
    for pid in pids:
        stop_pid(pid)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    from tests.browser._pages import CHROMIUM, LAUNCH_ARGS, sync_api

    playwright = sync_api.sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@pytest.fixture(scope="package")
def signed_in(browser: Any, site: Site) -> Any:
    """``signed_in(role)``: browser-context options of a session of that user, signed in once
    through the API-key form and reused by every context of the session."""
    from tests.browser._pages import sign_in_with_key

    states: dict[str, dict[str, Any]] = {}

    def options(role: str) -> dict[str, Any]:
        if role not in states:
            key = site.data.users[role].key
            context = browser.new_context(base_url=site.url)
            sign_in_with_key(context.new_page(), key)
            states[role] = {"storage_state": context.storage_state()}
            context.close()
        return states[role]

    return options


@pytest.fixture(scope="package")
def contexts(browser: Any, site: Site, signed_in: Any) -> Iterator[Any]:
    """``contexts(role, viewport)``: one browser context per user and window size, kept for
    the session (a new tab in one costs a fraction of a new context); each test gets its own
    tab. Tests that sign out or change cookies use ``anonymous`` instead."""
    from tests.browser._pages import DESKTOP

    made: dict[tuple[str, int, int], Any] = {}

    def context(role: str, viewport: dict[str, int] = DESKTOP) -> Any:
        key = (role, viewport["width"], viewport["height"])
        if key not in made:
            made[key] = browser.new_context(base_url=site.url, viewport=viewport, **signed_in(role))
            made[key].set_default_timeout(TIMEOUT_MS)
        return made[key]

    yield context
    for each in made.values():
        each.close()


@pytest.fixture
def console() -> list[str]:
    """The console errors and uncaught exceptions of the test's tabs."""
    return []


@pytest.fixture
def page_as(contexts: Any, console: list[str]) -> Iterator[Any]:
    """``page_as(role, viewport=DESKTOP)``: a new tab signed in as that user."""
    from tests.browser._pages import DESKTOP, watch_console

    tabs: list[Any] = []

    def open_tab(role: str, viewport: dict[str, int] = DESKTOP) -> Any:
        tab = contexts(role, viewport).new_page()
        watch_console(tab, console)
        tabs.append(tab)
        return tab

    yield open_tab
    for tab in tabs:
        tab.close()


@pytest.fixture
def page(page_as: Any) -> Any:
    """A new tab at laptop width (1280 x 800), signed in as the admin."""
    return page_as("admin")


@pytest.fixture
def anonymous(browser: Any, site: Site, console: list[str]) -> Iterator[Any]:
    """A tab in a new context of its own, not signed in."""
    from tests.browser._pages import DESKTOP, watch_console

    context = browser.new_context(base_url=site.url, viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    watch_console(tab, console)
    yield tab
    context.close()
