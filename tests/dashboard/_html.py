"""Reading the dashboard's HTML in tests: the start tags of a page and their attributes."""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """The elements of a page, as (tag, attributes), in document order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def find(self, tag: str = "", **wanted: str) -> list[dict[str, str]]:
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in wanted.items()}
        return [
            a
            for t, a in self.elements
            if (not tag or t == tag) and all(a.get(k) == v for k, v in wanted.items())
        ]
