"""The dashboard works from the keyboard: the first Tab reaches "Skip to content", which jumps
past the menu; the next ones walk the menu in order; the focused control is always visible."""

from __future__ import annotations

from typing import Any

from tests.browser._pages import expect, open_page

MENU = ["Overview", "Datasets", "Runs", "Models", "Deployments", "Jobs", "Alerts", "Audit log"]
FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {
    text: (el.innerText || el.textContent || "").trim(),
    tag: el.tagName.toLowerCase(),
    id: el.id,
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
    onScreen: box.width > 0 && box.height > 0 && box.left >= 0 && box.top >= 0
      && box.right <= window.innerWidth,
  };
}"""


def focus_next(page: Any) -> dict[str, Any]:
    page.keyboard.press("Tab")
    return dict(page.evaluate(FOCUSED))


def test_tab_reaches_skip_link_then_the_menu_with_visible_focus(page: Any) -> None:
    open_page(page, "/")
    skip = focus_next(page)
    assert skip["text"] == "Skip to content", skip
    assert skip["outline"] and skip["onScreen"], f"the skip link is focused but not seen: {skip}"

    brand = focus_next(page)
    assert (brand["tag"], brand["text"]) == ("a", "Lepton"), brand
    walked = [focus_next(page) for _ in MENU]
    assert [f["text"] for f in walked] == MENU
    hidden = [f["text"] for f in walked if not (f["outline"] and f["onScreen"])]
    assert not hidden, f"menu links focused without a visible outline: {hidden}"
    # the menu marks where we are for screen readers too
    expect(page.get_by_role("link", name="Overview", exact=True)).to_have_attribute(
        "aria-current", "page"
    )


def test_skip_link_moves_focus_to_the_content(page: Any) -> None:
    open_page(page, "/")
    focus_next(page)
    page.keyboard.press("Enter")
    landed = page.evaluate(FOCUSED)
    assert landed["id"] == "main", landed
