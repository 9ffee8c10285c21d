"""The audit log page (admins on the server): who did what, from where, and how it ended,
filtered and paged, and a check of the hash chain."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from lepton.errors import InvalidParameterError
from lepton.server._context import Offset
from lepton.server.dashboard._render import render
from lepton.server.dashboard._session import Viewer
from lepton.server.routes import admin

router = APIRouter()
PageLimit = Annotated[int, Query(ge=1, le=500)]
OUTCOMES = ("ok", "denied", "failed")
# The API filters by actor, project, outcome and time; "action contains" is matched here, so
# one page reads at most this many entries looking for matches (the next page goes on).
SCAN = 1000
_BATCH = 250


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    me: Viewer,
    actor: Annotated[str, Query(max_length=100)] = "",
    action: Annotated[str, Query(max_length=200)] = "",
    outcome: Annotated[str, Query(max_length=10)] = "",
    project: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=10, description="YYYY-MM-DD")] = "",
    verify: bool = False,
    limit: PageLimit = 50,
    offset: Offset = 0,
) -> HTMLResponse:
    """Audit entries newest first; ``verify=1`` also checks the chain (the page's form asks the
    API for the same verdict without reloading)."""
    me.require("admin")
    action = action.strip()
    filters: dict[str, Any] = {
        "actor": actor or None,
        "project": project or None,
        "outcome": _outcome(outcome),
        "since": _since(since),
    }
    entries, scanned, older = _page(request, me, filters, action, limit, offset)
    shown = {
        "actor": actor,
        "action": action,
        "outcome": outcome,
        "project": project,
        "since": since,
    }
    query = urlencode({k: v for k, v in shown.items() if v})
    newer = None if offset == 0 else 0 if action else max(0, offset - limit)
    return render(
        request,
        "audit.html",
        title="Audit log",
        me=me,
        entries=entries,
        filters=shown,
        filtered=bool(query),
        outcomes=OUTCOMES,
        report=admin.verify_audit(request, me) if verify else None,
        scanned=scanned,
        query="&" + query if query else "",
        newer=newer,
        older=older,
        limit=limit,
        offset=offset,
    )


def _page(
    request: Request, me: Viewer, filters: dict[str, Any], action: str, limit: int, offset: int
) -> tuple[list[Any], int, int | None]:
    """One page of entries from ``offset`` (in the unfiltered-by-action order), how many
    entries were read, and the offset of the next (older) page, None at the end."""
    if not action:
        entries = admin.list_audit(request, me, limit=limit, offset=offset, **filters)
        return entries, len(entries), offset + limit if len(entries) == limit else None
    needle, found, position = action.lower(), [], offset
    while position - offset < SCAN:
        batch = admin.list_audit(request, me, limit=_BATCH, offset=position, **filters)
        for index, entry in enumerate(batch):
            if needle in entry.action.lower():
                found.append(entry)
                if len(found) == limit:
                    return found, position + index + 1 - offset, position + index + 1
        position += len(batch)
        if len(batch) < _BATCH:
            return found, position - offset, None
    return found, position - offset, position


def _outcome(value: str) -> str | None:
    if value and value not in OUTCOMES:
        raise InvalidParameterError(
            f"Unknown outcome {value!r}: expected {', '.join(OUTCOMES)}, or leave it empty."
        )
    return value or None


def _since(value: str) -> float | None:
    """A date (UTC midnight) as Unix time."""
    if not value:
        return None
    try:
        day = dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        raise InvalidParameterError(
            f"Invalid date {value!r} for 'since': expected YYYY-MM-DD, e.g. 2026-01-31."
        ) from None
    return day.timestamp()
