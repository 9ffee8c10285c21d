"""Dashboard pages: the model registry.

``/models`` lists the models the caller can see; ``/models/{name}`` shows a model's versions,
its aliases with their history, and the project's policies, with a promote/demote form per
version next to that version's policy check; ``/models/{name}/versions/{version}`` shows one
version: metrics, the evaluation report registered with it, the model card (editable), the
input schema and the lineage from deployments back to the training data.

Every change goes through the REST API (the forms call it), which checks roles and policies
and writes the audit trail. The policy check shown is the one the API's
``/policy-check`` route computes, and the promote form sends those results with the move, so
the page shows what the API will decide.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from lepton.errors import NotFoundError, PermissionDeniedError
from lepton.server._context import Caller, Offset, state_of
from lepton.server.dashboard._render import render
from lepton.server.dashboard._session import Viewer
from lepton.server.routes import deployments, models, runs
from lepton.workspace._records import ModelVersionInfo

router = APIRouter()

MODELS_PAGE = 50
VERSIONS_PAGE = 20  # each shown version gets its policy check: keep the page short
HISTORY_SHOWN = 50  # latest alias moves on the model page
KEY_METRICS = 4  # metric columns of the versions table
SUGGESTED_ALIASES = ("production", "staging")


@router.get("/models", response_class=HTMLResponse)
def models_page(
    request: Request,
    me: Viewer,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = MODELS_PAGE,
) -> HTMLResponse:
    """The registered models the caller can see, with their latest version and aliases."""
    rows = models.list_models(request, me, limit=limit, offset=offset)
    return render(
        request,
        "models.html",
        title="Models",
        me=me,
        models=rows,
        updated=_last_changes(request, [m["name"] for m in rows]),
        offset=offset,
        limit=limit,
    )


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(
    name: str,
    request: Request,
    me: Viewer,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = VERSIONS_PAGE,
) -> HTMLResponse:
    """One model: versions (newest first) with their policy check and promote form, aliases,
    alias history and the project's policies."""
    state = state_of(request)
    project = models.model_project(state, me, name, "viewer")
    every = models.list_versions(name, request, me)
    shown = list(reversed(every))[offset : offset + limit]
    policies = models.stored_policies(state, project)
    checks = (
        {v.version: models.check_version(state, project, v, policies) for v in shown}
        if policies
        else {}
    )
    history = models.alias_history(name, request, me)
    return render(
        request,
        "model.html",
        title=name,
        me=me,
        name=name,
        project=project,
        versions=shown,
        version_count=len(every),
        latest=every[-1] if every else None,
        aliases=sorted((a, v.version) for v in every for a in v.aliases),
        alias_names=_alias_names(a for v in every for a in v.aliases),
        history=list(reversed(history))[:HISTORY_SHOWN],
        history_count=len(history),
        policies=models.get_policies(project, request, me).policies,
        checks=checks,
        deployed=_deployed(request, me, name),
        metric_names=_key_metrics(shown),
        offset=offset,
        limit=limit,
    )


@router.get("/models/{name}/versions/{version}", response_class=HTMLResponse)
def version_page(
    name: str, version: models.VersionNumber, request: Request, me: Viewer
) -> HTMLResponse:
    """One version: metrics, evaluation report, model card, input schema and lineage."""
    from lepton.registry._card import USER_FIELDS
    from lepton.server._evidence import PLOTS_FOLDER, VersionEvidence, required_card_fields

    state = state_of(request)
    info = models.get_version(name, version, request, me)
    project = models.model_project(state, me, name, "viewer")
    policies = models.stored_policies(state, project)
    evidence = VersionEvidence(state, info, required_card_fields(policies))
    check = models.check_version(state, project, info, policies, evidence) if policies else None
    report = evidence.report_data
    breaches = _breaches(policies, report) if report is not None else {}
    card = evidence.card
    run = _run(request, me, info.run_id)
    return render(
        request,
        "model_version.html",
        title=f"{name} v{version}",
        me=me,
        v=info,
        project=project,
        check=check,
        alias_names=_alias_names(state.workspace.meta.aliases(name)),
        report=report,
        plots_url=(
            f"/api/v1/runs/{info.evaluation_run_id}/artifacts/{PLOTS_FOLDER}/"
            if report is not None
            else ""
        ),
        metrics=[
            (key, value, breaches.get(key))
            for key, value in ((report or {}).get("metrics") or info.metrics).items()
        ],
        fairness=_fairness_tables(report, breaches) if report is not None else [],
        card=card,
        card_fields=[
            (key, key.replace("_", " ").capitalize(), card.fields.get(key, ""))
            for key in USER_FIELDS
        ],
        other_card_fields=[(k, v) for k, v in card.fields.items() if k not in USER_FIELDS],
        run=run,
        deployments=_deployed(request, me, name).get(info.version, []),
        datasets=_datasets(state, info, run),
    )


# helpers ------------------------------------------------------------------------------------------
def _last_changes(request: Request, names: list[str]) -> dict[str, float]:
    """When each listed model last changed (a version registered or an alias moved), in two
    grouped queries for the whole page rather than one per row."""
    from sqlalchemy import func, select

    from lepton.store import _schema as t

    if not names:
        return {}
    changed: dict[str, float] = {}
    meta = state_of(request).workspace.meta
    with meta.read() as conn:
        for table in (t.model_versions, t.alias_events):
            query = (
                select(t.models.c.name, func.max(table.c.created_at))
                .join(t.models, t.models.c.id == table.c.model_id)
                .where(t.models.c.name.in_(names))
                .group_by(t.models.c.name)
            )
            for model, when in conn.execute(query):
                if when is not None:
                    changed[model] = max(changed.get(model, 0.0), float(when))
    return changed


def _alias_names(existing: Iterable[str]) -> list[str]:
    """The aliases to suggest in a promote form: the usual ones, then the model's own."""
    return [*SUGGESTED_ALIASES, *sorted(set(existing) - set(SUGGESTED_ALIASES))]


def _key_metrics(versions: list[ModelVersionInfo]) -> list[str]:
    """The metrics most versions on the page have (the table has room for a few)."""
    counts = Counter(k for v in versions for k in v.metrics)
    return sorted(counts, key=lambda k: (-counts[k], k))[:KEY_METRICS]


def _deployed(request: Request, me: Caller, name: str) -> dict[int, list[Any]]:
    """The caller's visible deployments of model ``name``, by the version they serve."""
    serving: dict[int, list[Any]] = {}
    for d in deployments.list_deployments(request, me, limit=10_000, offset=0):
        if d.model_name == name:
            serving.setdefault(d.model_version, []).append(d)
    return serving


def _run(request: Request, me: Caller, run_id: str | None) -> Any:
    """The training run, or None when it is gone or in a project the caller cannot read."""
    if not run_id:
        return None
    try:
        return runs.get_run(run_id, request, me)
    except (NotFoundError, PermissionDeniedError):
        return None


def _datasets(state: Any, info: ModelVersionInfo, run: Any) -> list[dict[str, Any]]:
    """The dataset versions the version was trained on (its record, and the run's inputs),
    each marked with whether the store still holds it (only those get a link)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    inputs = [i for i in (run.inputs if run is not None else []) if i.get("kind") == "dataset"]
    for item in [*info.datasets, *inputs]:
        name, version = str(item.get("name", "")), str(item.get("version", ""))
        if name and (name, version) not in found:
            found[(name, version)] = {"name": name, "version": version, "role": item.get("role")}
    for entry in found.values():
        try:
            stored = state.workspace.get_dataset_version(entry["name"], entry["version"])
            entry.update(registered=True, version=stored.version, project=stored.project)
        except (LookupError, ValueError):
            entry["registered"] = False
    return list(found.values())


def _breaches(policies: list[Any], report: dict[str, Any]) -> dict[str, str]:
    """The report's values that break a policy: ``metric`` or ``feature/metric`` -> the
    policy's name (the page highlights them)."""
    broken: dict[str, str] = {}
    metrics = report.get("metrics") or {}
    fairness = report.get("fairness") or {}
    for policy in policies:
        if policy.rule in ("min_metric", "max_metric"):
            value = metrics.get(policy.metric)
            if isinstance(value, int | float) and (
                value < policy.value if policy.rule == "min_metric" else value > policy.value
            ):
                broken[policy.metric] = policy.name
        elif policy.rule == "max_fairness":
            features = [policy.feature] if policy.feature else list(fairness)
            for feature in features:
                value = (fairness.get(feature) or {}).get(policy.metric)
                if isinstance(value, int | float) and value > policy.value:
                    broken[f"{feature}/{policy.metric}"] = policy.name
    return broken


def _fairness_tables(report: dict[str, Any], breaches: dict[str, str]) -> list[dict[str, Any]]:
    """One table per sensitive feature: a row per group, the columns its numbers have (the
    same for every group), and the summary across groups with the values that break a policy."""
    tables = []
    for feature, result in (report.get("fairness") or {}).items():
        groups: dict[str, dict[str, Any]] = result.get("groups") or {}
        columns = list(next(iter(groups.values()), {}))
        tables.append(
            {
                "feature": feature,
                "columns": columns,
                "groups": [(g, [values.get(c) for c in columns]) for g, values in groups.items()],
                "summary": [
                    (key, value, breaches.get(f"{feature}/{key}"))
                    for key, value in result.items()
                    if key != "groups"
                ],
            }
        )
    return tables
