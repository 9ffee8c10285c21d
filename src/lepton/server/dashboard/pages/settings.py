"""Settings: my account (roles, password, API keys) for everyone; users and their roles for
admins of the server; a project's secrets (names only) for its developers, set and deleted
by its admins. Every button calls the REST API, which checks the role again."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from lepton.server._context import ROLES, Offset
from lepton.server.dashboard._render import render
from lepton.server.dashboard._session import Viewer
from lepton.server.routes import admin, projects, secrets

router = APIRouter()
PageLimit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/settings", response_class=HTMLResponse)
def settings_page(
    request: Request,
    me: Viewer,
    project: Annotated[str, Query(max_length=200)] = "",
    limit: PageLimit = 200,
    offset: Offset = 0,
) -> HTMLResponse:
    """The sections the caller's roles allow; ``project`` picks whose secrets are listed
    (default: the first the caller may list), ``limit``/``offset`` page the users."""
    names = [p.name for p in projects.list_projects(request, me, limit=10_000, offset=0)]
    return render(
        request,
        "settings.html",
        title="Settings",
        me=me,
        roles=sorted(me.principal.roles.items()),
        keys=admin.list_tokens(request, me, user=me.name, limit=1000, offset=0),
        users=admin.list_users(request, me, limit=limit, offset=offset) if me.can("admin") else [],
        role_names=ROLES,
        project_names=names,
        limit=limit,
        offset=offset,
        **_secrets(request, me, names, project),
    )


def _secrets(request: Request, me: Viewer, names: list[str], project: str) -> dict[str, Any]:
    """The secrets section: the projects whose secret names the caller may list (developer),
    the chosen one and its secrets (names and times: no API answers a value)."""
    mine = [p for p in names if me.can("developer", p)]
    chosen = project or (mine[0] if mine else "")
    # a project asked for by name that is unknown, or not the caller's: the 404 or 403 page
    listed = secrets.list_secrets(chosen, request, me, limit=10_000, offset=0) if chosen else []
    return {"secret_projects": mine, "secret_project": chosen, "secrets": listed}
