"""Rendering pages: one Jinja environment (autoescaped), the filters every page uses, and
``render`` that fills in the signed-in user, the CSRF token and the navigation."""

from __future__ import annotations

import datetime as dt
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

TEMPLATES = Path(__file__).parent / "templates"

# (path, label, role needed on the server to see it in the menu); pages check roles themselves
NAV = (
    ("/", "Overview", None),
    ("/datasets", "Datasets", None),
    ("/runs", "Runs", None),
    ("/models", "Models", None),
    ("/deployments", "Deployments", None),
    ("/jobs", "Jobs", None),
    ("/alerts", "Alerts", None),
    ("/audit", "Audit log", "admin"),
    ("/settings", "Settings", None),
)

# Pages send no inline script or style: the policy below forbids both, so injected markup
# cannot run. Charts take their data from data-* attributes and the JSON routes.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def when(ts: float | None) -> str:
    """A timestamp as ``2026-11-27 05:12`` (UTC), or ``-``."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M")


def iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def ago(ts: float | None, now: float | None = None) -> str:
    """``3 min ago``, ``2 h ago``, ``5 d ago``."""
    import time

    if ts is None:
        return "-"
    seconds = max(0.0, (now or time.time()) - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def number(value: Any, digits: int = 4) -> str:
    """A metric or parameter for a table cell: floats to ``digits`` significant digits."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.{digits}g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def size(n: int | None) -> str:
    """Bytes as ``12.3 MB``."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def short(identifier: str | None, length: int = 8) -> str:
    return (identifier or "")[:length]


def to_json(value: Any) -> str:
    """JSON for a data-* attribute (autoescaping makes it safe inside the attribute)."""
    return json.dumps(value, separators=(",", ":"), default=str)


@cache
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a typo in a template fails its test, not silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when, iso=iso, ago=ago, number=number, size=size, short=short, to_json=to_json
    )
    return env


def render(
    request: Request, template: str, *, status: int = 200, title: str = "", **context: Any
) -> HTMLResponse:
    """``template`` rendered with the page's context, the signed-in user (``me``; None on the
    sign-in and error pages), ``csrf`` for the API calls of its buttons, and the menu."""
    from lepton.server._context import ALL_PROJECTS

    caller = context.pop("me", None)

    def can(role: str, project: str = ALL_PROJECTS) -> bool:
        return caller is not None and caller.can(role, project)

    nav = [(path, label) for path, label, needed in NAV if needed is None or can(needed)]
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            me=caller,
            can=can,
            csrf=getattr(request.state, "csrf", ""),
            nav=nav,
            path=request.url.path,
            title=title,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
