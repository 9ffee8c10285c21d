"""Dashboard pages of deployments: the list with their health at a glance, and one deployment
with its replicas, live QPS/latency/error charts, drift per feature, alert rules, logs, the
Scale/Update/Stop buttons and a "try it" form generated from the model's input schema (each
button and the form call the REST API)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from lepton.errors import InvalidParameterError, LeptonError, NotFoundError
from lepton.server._context import Offset, state_of
from lepton.server.dashboard._render import render
from lepton.server.dashboard._session import Viewer
from lepton.server.routes import alerts, deployments, models
from lepton.server.routes.models import project_names
from lepton.workspace._records import DeploymentInfo, ModelVersionInfo

router = APIRouter()
PageLimit = Annotated[int, Query(ge=1, le=500)]
LOG_LINES = 100  # per replica; `lepton deployments logs NAME --tail N` prints more
# the charts of a deployment page: ?metric= of series.json -> the series it draws
CHARTS = {
    "qps": ("qps",),
    "latency": ("p50_latency_ms", "p99_latency_ms"),
    "error_rate": ("error_rate",),
}


@router.get("/deployments", response_class=HTMLResponse)
def deployments_page(
    request: Request, me: Viewer, limit: PageLimit = 50, offset: Offset = 0
) -> HTMLResponse:
    """The deployments of the projects the caller may read, by name."""
    listing = deployments.list_deployments(request, me, limit=limit, offset=offset)
    return render(
        request,
        "deployments.html",
        title="Deployments",
        me=me,
        deployments=listing,
        projects=deployment_projects(request),
        ready={d.name: ready_replicas(d) for d in listing},
        limit=limit,
        offset=offset,
    )


@router.get("/deployments/{name}", response_class=HTMLResponse)
def deployment_page(name: str, request: Request, me: Viewer) -> HTMLResponse:
    """One deployment; 404 page for an unknown one, 403 outside the caller's projects."""
    from lepton.server.dashboard.pages.alerts import rules_view  # it imports this module

    info = deployments.get_deployment(name, request, me)
    projects = deployment_projects(request)
    project = projects.get(name, "")
    developer = me.can("developer", project)
    version = _version(request, info)
    drift, drift_error = _drift(request, me, name)
    rules = alerts.list_alerts(request, me, deployment=name)
    return render(
        request,
        "deployment.html",
        title=f"Deployment {name}",
        me=me,
        d=info,
        project=project,
        developer=developer,
        ready=ready_replicas(info),
        version=version,
        versions=_other_versions(request, me, info) if developer else [],
        drift=drift,
        drift_error=drift_error,
        rules=rules,
        **rules_view(request, me, rules, projects),
        logs=_logs(request, me, name) if developer else "",
        log_lines=LOG_LINES,
        form=try_form(request, me, info, version) if developer else None,
    )


@router.get("/deployments/{name}/series.json")
def series_json(
    name: str,
    request: Request,
    me: Viewer,
    metric: Annotated[str, Query(max_length=64)] = "qps",
    since: Annotated[str, Query(max_length=16)] = "15m",
) -> dict[str, Any]:
    """The chart data of one metric (``qps``, ``latency``, ``error_rate`` or any alert metric)
    over the last ``since`` (``15m``, ``1h``, ``2d``), x in unix time."""
    from lepton.monitoring._alerts import METRICS
    from lepton.monitoring._series import MINUTE, RAW, RETENTION, TEN_MINUTES, parse_since

    keys = CHARTS.get(metric) or ((metric,) if metric in METRICS else None)
    if keys is None:
        raise InvalidParameterError(
            f"Unknown metric {metric!r}; charts: {', '.join([*CHARTS, *METRICS])}."
        )
    seconds = parse_since(since)
    # the finest points the store keeps that far back (raw for an hour, then coarser)
    resolution = next(
        (r for r in (RAW, MINUTE) if seconds <= RETENTION[r]),
        TEN_MINUTES,
    )
    points = deployments.deployment_series(
        name, request, me, resolution=resolution, since=time.time() - seconds
    )
    if metric == "latency":  # a span without requests has no latency (it is stored as 0)
        points = [p for p in points if p.get("requests", 1) > 0]
    return {
        "series": [
            {"name": key, "points": [[p["ts"], p[key]] for p in points if key in p]} for key in keys
        ],
        "empty": "No points yet: the control plane records one every 5 s while the deployment "
        "runs.",
    }


# reading --------------------------------------------------------------------------------------
def deployment_projects(request: Request) -> dict[str, str]:
    """The project of every deployment, by name, in one query (DeploymentInfo has none)."""
    from lepton.store import _schema as t

    state = state_of(request)
    names = project_names(state)
    return {
        r["name"]: names.get(r["project_id"], "") for r in state.workspace.meta.rows(t.deployments)
    }


def ready_replicas(info: DeploymentInfo) -> int:
    return sum(1 for r in info.state.get("replicas", []) if r.get("status") == "ready")


def _version(request: Request, info: DeploymentInfo) -> ModelVersionInfo | None:
    """The served version's record, for its input schema (a deployment's viewer may see the
    schema its address takes, even where the model lives in another project)."""
    try:
        return state_of(request).workspace.get_model_version(
            info.model_name, version=info.model_version
        )
    except NotFoundError:  # deleted since it was deployed: the page says so
        return None


def _other_versions(request: Request, me: Viewer, info: DeploymentInfo) -> list[int]:
    """The versions the Update button can roll to (none when the caller cannot read the model)."""
    try:
        found = models.list_versions(info.model_name, request, me)
    except LeptonError:
        return []
    return sorted((v.version for v in found if v.version != info.model_version), reverse=True)


def _drift(request: Request, me: Viewer, name: str) -> tuple[Any, str]:
    """The drift report, or why it could not be computed (shown in its place)."""
    try:
        return deployments.deployment_drift(name, request, me, since=0.0), ""
    except LeptonError as error:
        return None, str(error)


def _logs(request: Request, me: Viewer, name: str) -> str:
    reply = deployments.deployment_logs(name, request, me, replica=None, tail=LOG_LINES)
    return bytes(reply.body).decode("utf-8", errors="replace")


# the "try it" form ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TryField:
    """One input of the form: ``widget`` is number, select, checkbox, text or textarea."""

    column: str
    kind: str
    widget: str
    name: str  # inputs.0.<column>, or inputs.0.<index> when the column name cannot be a path
    value: Any = None
    options: tuple[str, ...] = ()
    suggestions: tuple[str, ...] = ()


@dataclass(frozen=True)
class TryForm:
    kind: str  # table, texts or images (images get a note and a curl command)
    fields: tuple[TryField, ...]
    source: str  # where the pre-filled values come from, for the reader


def try_form(
    request: Request, me: Viewer, info: DeploymentInfo, version: ModelVersionInfo | None
) -> TryForm | None:
    """The fields of the model's input schema, pre-filled with typical values: the training
    data's profile (median, most frequent value) where the caller may read that dataset, else
    a row of the training sample the bundle keeps for drift, else the newest sampled request."""
    from lepton.serving._schema import RequestSchema

    if version is None or not version.input_schema:
        return None
    schema = RequestSchema(version.input_schema)
    if schema.kind == "images":
        return TryForm("images", (), "")
    from lepton.deployments._drift import training_example

    profile = _training_profile(request, me, version)
    sample, source = {}, "the training data's profile" if profile else ""
    if not profile:  # e.g. trained on a split that was never registered
        sample = training_example(state_of(request).workspace, version)
        source = "a row of the training sample in the model's bundle" if sample else ""
    if not profile and not sample:
        sample = _newest_sample(request, me, info.name, schema.columns)
        source = "the newest sampled request" if sample else ""
    # lepton.js nests on dots and makes lists of numeric parts: such names go by position,
    # which the deployment takes too (a row in schema order)
    by_position = any("." in c or c.isdigit() for c in schema.columns)
    fields = []
    for index, (column, kind) in enumerate(zip(schema.columns, schema.types, strict=True)):
        name = f"inputs.0.{index if by_position else column}"
        if schema.kind == "texts":
            fields.append(TryField(column, "text", "textarea", name, sample.get(column)))
            continue
        fields.append(_field(column, kind, name, profile.get(column), sample.get(column)))
    return TryForm(schema.kind, tuple(fields), source)


def _field(
    column: str, kind: str, name: str, profile: dict[str, Any] | None, sample: Any
) -> TryField:
    top = [str(v) for v, _ in (profile or {}).get("top") or []]
    if kind == "numeric":
        median = ((profile or {}).get("stats") or {}).get("median")
        value = median if median is not None else sample
        if isinstance(value, float):
            value = float(f"{value:.4g}")
        return TryField(column, kind, "number", name, value)
    if kind == "boolean":
        value = top[0] if top else sample
        return TryField(column, kind, "checkbox", name, str(value).lower() == "true")
    value = top[0] if top else sample
    if kind == "categorical" and top and (profile or {}).get("unique", 0) <= len(top):
        return TryField(column, kind, "select", name, value, options=tuple(top))
    return TryField(column, kind, "text", name, value, suggestions=tuple(top))


def _training_profile(
    request: Request, me: Viewer, version: ModelVersionInfo
) -> dict[str, dict[str, Any]]:
    """Per-column profile of the version's training data, when it is registered here and the
    caller may read it (its values are data of that dataset)."""
    train = [d for d in version.datasets if d.get("role") == "train"] or version.datasets
    if not train:
        return {}
    workspace = state_of(request).workspace
    try:
        stored = workspace.list_dataset_versions(train[0]["name"])
    except NotFoundError:  # trained on data never registered
        return {}
    for dataset in stored:
        if dataset.version == train[0].get("version") and me.can("viewer", dataset.project):
            return {c["name"]: c for c in dataset.profile.get("columns", [])}
    return {}


def _newest_sample(request: Request, me: Viewer, name: str, columns: list[str]) -> dict[str, Any]:
    """The newest sampled request (PII masked by the control plane), by column."""
    samples = deployments.request_samples(name, request, me, since=0.0, limit=1)
    if not samples or not isinstance(samples[0].get("inputs"), list):
        return {}
    return dict(zip(columns, samples[0]["inputs"], strict=False))
