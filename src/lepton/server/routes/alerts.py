"""Alert rules of deployments over REST: create, list, delete, and their firing/resolved
history. The control plane evaluates them; a rule is read and changed with the role its
deployment's project gives (viewer reads, developer writes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from lepton.errors import NotFoundError
from lepton.server._context import Caller, ServerState, caller, role, state_of
from lepton.server.routes.deployments import deployment_project, visible_deployments
from lepton.workspace._records import AlertRuleInfo

router = APIRouter(tags=["alerts"])
Auth = Annotated[Caller, Depends(caller)]


class AlertIn(BaseModel):
    metric: str = Field(max_length=64)
    op: str = Field(max_length=8)
    threshold: float
    for_seconds: float = Field(default=0.0, ge=0)
    webhook: str | None = Field(default=None, max_length=2000)


@router.post("/deployments/{name}/alerts", status_code=201, openapi_extra=role("developer"))
def create_alert(name: str, body: AlertIn, request: Request, auth: Auth) -> AlertRuleInfo:
    """A rule the control plane checks after each scrape; a webhook is POSTed on changes."""
    from lepton.monitoring._alerts import check_rule

    state = state_of(request)
    deployment_project(state, auth, name, "developer")
    check_rule(body.metric, body.op, body.threshold, body.for_seconds, body.webhook)
    rule = state.workspace.create_alert(
        name, body.metric, body.op, body.threshold, body.for_seconds, body.webhook
    )
    request.state.audit_details = {"deployment": name, "rule": rule.id, "alert": rule.describe()}
    return rule


def _visible_rules(state: ServerState, auth: Caller) -> list[AlertRuleInfo]:
    allowed = {d.name for d in visible_deployments(state, auth)}
    return [r for r in state.workspace.list_alerts() if r.deployment in allowed]


def _rule(state: ServerState, auth: Caller, rule_id: str, needed: str) -> AlertRuleInfo:
    """The rule whose id is (or starts with, 4+ characters) ``rule_id``, role checked."""
    rules = state.workspace.list_alerts()
    found = [r for r in rules if r.id.startswith(rule_id)] if len(rule_id) >= 4 else []
    if len(found) != 1:
        raise NotFoundError(
            rule_id,
            [r.id[:8] for r in _visible_rules(state, auth)],
            hint="List rules with `lepton alerts list`.",
        )
    deployment_project(state, auth, found[0].deployment, needed)
    return found[0]


@router.get("/alerts", openapi_extra=role("authenticated"))
def list_alerts(
    request: Request, auth: Auth, deployment: Annotated[str | None, Query()] = None
) -> list[AlertRuleInfo]:
    """Alert rules with their state (ok, pending, firing), of one deployment or all visible."""
    state = state_of(request)
    if deployment is not None:
        deployment_project(state, auth, deployment, "viewer")
        return state.workspace.list_alerts(deployment)
    return _visible_rules(state, auth)


@router.get("/alerts/events", openapi_extra=role("authenticated"))
def alert_events(
    request: Request,
    auth: Auth,
    rule_id: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """Firing and resolved events, newest first (with the webhook's answer)."""
    from sqlalchemy import select

    from lepton.store import _schema as t

    state = state_of(request)
    if rule_id is not None:
        rule = _rule(state, auth, rule_id, "viewer")
        return state.workspace.alert_events(rule.id, limit)
    ids = [r.id for r in _visible_rules(state, auth)]
    if not ids:
        return []
    events = t.alert_events
    query = select(events).where(events.c.rule_id.in_(ids)).order_by(events.c.ts.desc())
    with state.workspace.meta.read() as conn:
        return [dict(r._mapping) for r in conn.execute(query.limit(limit))]


@router.delete("/alerts/{rule_id}", status_code=204, openapi_extra=role("developer"))
def delete_alert(rule_id: str, request: Request, auth: Auth) -> Response:
    state = state_of(request)
    rule = _rule(state, auth, rule_id, "developer")
    request.state.audit_details = {"deployment": rule.deployment, "rule": rule.id}
    state.workspace.delete_alert(rule.id)
    return Response(status_code=204)
