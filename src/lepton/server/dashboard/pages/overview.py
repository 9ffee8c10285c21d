"""The overview: the caller's projects, recent runs, deployments with their health, and the
alerts that are firing now."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from lepton.server.dashboard._render import render
from lepton.server.dashboard._session import Viewer
from lepton.server.routes import alerts, deployments, projects, runs

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, me: Viewer) -> HTMLResponse:
    rules = alerts.list_alerts(request, me)
    return render(
        request,
        "overview.html",
        title="Overview",
        me=me,
        projects=projects.list_projects(request, me),
        runs=runs.list_runs(request, me, limit=10),
        deployments=deployments.list_deployments(request, me),
        firing=[r for r in rules if r.state == "firing"],
        rule_count=len(rules),
    )
