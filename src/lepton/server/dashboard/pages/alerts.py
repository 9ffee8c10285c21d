"""The Alerts page: every rule the caller may see with its state, a form that creates a rule,
delete buttons, and the firing/resolved history, newest first. Webhook URLs are shown only
up to their host: their paths often carry a token (Slack, Teams)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from lepton.server.dashboard._render import render
from lepton.server.dashboard._session import Viewer
from lepton.server.dashboard.pages.deployments import deployment_projects
from lepton.server.routes import alerts, deployments
from lepton.workspace._records import AlertRuleInfo

router = APIRouter()


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    me: Viewer,
    deployment: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> HTMLResponse:
    """Rules, the create form (``?deployment=`` chooses its deployment first: the link of a
    deployment's page) and the newest ``limit`` events."""
    from lepton.monitoring._alerts import METRICS, OPS

    rules = alerts.list_alerts(request, me, deployment=None)
    events = alerts.alert_events(request, me, rule_id=None, limit=limit)
    projects = deployment_projects(request)
    names = [d.name for d in deployments.list_deployments(request, me, limit=10_000, offset=0)]
    changeable = [n for n in names if me.can("developer", projects.get(n, ""))]
    return render(
        request,
        "alerts.html",
        title="Alerts",
        me=me,
        rules=rules,
        events=events,
        described={r.id: r for r in rules},
        deployments=names,
        changeable=changeable,
        chosen=deployment,
        metrics=METRICS,
        ops=OPS,
        limit=limit,
        **rules_view(request, me, rules, projects),
    )


def rules_view(
    request: Request,
    me: Viewer,
    rules: list[AlertRuleInfo],
    projects: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What the rules table needs besides the rules: which the caller may delete (developers
    of the deployment's project) and the masked webhooks. ``projects``: deployment_projects,
    when the page has it already."""
    projects = deployment_projects(request) if projects is None else projects
    return {
        "deletable": {r.id for r in rules if me.can("developer", projects.get(r.deployment, ""))},
        "webhooks": {r.id: mask_webhook(r.webhook) for r in rules if r.webhook},
    }


def mask_webhook(url: str) -> str:
    """``https://hooks.slack.com/…``: the scheme and host only (no user, path or query)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a number: shown as no port rather than failing the page
        port = ""
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{rest}"
