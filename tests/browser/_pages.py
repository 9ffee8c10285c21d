"""What the browser tests share: the Chromium they drive, signing in through the real forms,
opening a page and checking it, console errors, screenshots.

Every test module imports this first: without Playwright or a Chromium binary the module is
skipped, with the reason and the fix (never ``playwright install``: the suite drives the
system's Chromium, e.g. Debian's, by path)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

CHROMIUM = Path(os.environ.get("LEPTON_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.is_file():
    pytest.skip(
        f"No Chromium at {CHROMIUM}: install it (`scripts/system-deps.sh`, Debian's `chromium` "
        "package) or point LEPTON_CHROMIUM at one.",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is missing: pip install -e '.[dev]' (never `playwright install`).",
)
expect = sync_api.expect

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def artifacts_dir() -> Path:
    """Where screenshots go: ``$LEPTON_TEST_ARTIFACTS/screenshots`` or ``test-artifacts/``."""
    root = os.environ.get("LEPTON_TEST_ARTIFACTS")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "test-artifacts"
    folder = base / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def watch_console(page: Any, errors: list[str]) -> None:
    """Collect the page's console errors and uncaught exceptions into ``errors``."""
    page.on(
        "console",
        lambda message: message.type == "error" and errors.append(f"console: {message.text}"),
    )
    page.on("pageerror", lambda error: errors.append(f"exception: {error}"))


def assert_no_console_errors(errors: list[str], where: str = "") -> None:
    assert not errors, f"console errors{' on ' + where if where else ''}:\n" + "\n".join(errors)


def open_page(page: Any, path: str, status: int = 200) -> Any:
    """Go to ``path``; check the answer's status and that the page has exactly one <h1>."""
    response = page.goto(path)
    assert response is not None, f"no answer for {path}"
    assert response.status == status, f"{path} answered {response.status}, expected {status}"
    expect(page.locator("h1")).to_have_count(1)
    return response


def wait_for_charts(page: Any) -> None:
    """Charts load their data after the page: wait until each one drew (or said why not)."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('figure[data-chart]')]"
        ".every((f) => f.dataset.loaded === 'true' || f.dataset.loaded === 'error')"
    )


def assert_no_sideways_scroll(page: Any, where: str) -> None:
    """The document is no wider than the window; else name the elements that stick out."""
    width, window = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    if width <= window + 1:
        return
    culprits = page.evaluate(_STICKING_OUT)
    raise AssertionError(
        f"{where} at {window} px is {width} px wide; these stick out:\n" + "\n".join(culprits)
    )


# the outermost elements whose right edge is past the window, outside of any box that scrolls
# or clips its content (a wide table in a scrolling wrapper is fine)
_STICKING_OUT = """() => {
  const out = [];
  const walk = (el) => {
    const box = el.getBoundingClientRect();
    if (box.right > innerWidth + 1 && getComputedStyle(el).position !== "fixed") {
      const cls = el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "";
      const text = (el.innerText || el.getAttribute("name") || "").trim().slice(0, 40);
      out.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${cls} "${text}" right=${Math.round(box.right)}`);
      return;
    }
    if (getComputedStyle(el).overflowX !== "visible") return;  // it scrolls or clips its own
    for (const child of el.children) walk(child);
  };
  for (const child of document.body.children) walk(child);
  return out.slice(0, 10);
}"""


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    """Save the page as ``NAME.png`` (the whole page, or the first screen: much faster)."""
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def _to_sign_in(page: Any, next_path: str | None) -> None:
    """Open the sign-in page (``next_path`` None: the page is on it already, e.g. redirected)."""
    if next_path is not None:
        page.goto(f"/login?next={quote(next_path, safe='')}")
    expect(page).to_have_url(re.compile(r"/login(\?|$)"))


def sign_in_with_key(page: Any, key: str, next_path: str | None = "/") -> None:
    """Sign in through the sign-in page's API-key form."""
    _to_sign_in(page, next_path)
    form = page.get_by_role("form", name="Sign in with an API key")
    form.get_by_label("API key").fill(key)
    form.get_by_role("button", name="Sign in with the key").click()
    page.wait_for_url(lambda url: "/login" not in url)


def sign_in_with_password(page: Any, name: str, password: str, next_path: str | None = "/") -> None:
    """Sign in through the sign-in page's user name + password form (no wait: it may fail)."""
    _to_sign_in(page, next_path)
    form = page.get_by_role("form", name="Sign in with a password")
    form.get_by_label("User name").fill(name)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_role("button", name="Sign in", exact=True).click()
