"""Dashboard pages: runs. The runs table (filters, sorting, paging, pick runs to compare), one
run (params, live metric charts, artifacts, lineage, its error), several runs side by side, and
the JSON the charts read.

Records are read through the REST API's route functions, which check the caller's role in
the run's project. What the API has no route for comes from the server's ``LocalWorkspace``,
after that check or limited to the projects the caller may read: the sorted, filtered page of
the runs table, a metric sampled for a chart, a run's artifacts and model versions.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from lepton.errors import InvalidParameterError, PermissionDeniedError, RunNotFoundError
from lepton.server._context import Caller, Offset, state_of
from lepton.server.dashboard._render import render
from lepton.server.dashboard._session import Viewer
from lepton.server.routes import projects, runs
from lepton.workspace._records import RUN_STATUSES, RunInfo

router = APIRouter()

PAGE_SIZE = 50
MAX_POINTS = 2000  # per chart series; a longer one is sampled at evenly spaced steps
MAX_COMPARED = 10
MAX_INLINE_IMAGES = 12
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
# an SVG opened on its own must not run script with the dashboard's origin
IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
COLUMNS = (("name", "Run"), ("status", "Status"), ("started", "Started"), ("duration", "Duration"))
Text = Annotated[str | None, Query(max_length=200)]


def duration(seconds: float | None) -> str:
    """``42.0 s``, ``3 min 5 s``, ``2 h 10 min``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def run_duration(run: RunInfo) -> str:
    if run.status == "running":
        return duration(time.time() - run.start_time) + " so far"
    return duration(run.duration)


def _finite(points: list[Any]) -> list[list[Any]]:
    """Points as JSON arrays; a NaN or infinite value becomes null (the chart skips it)."""
    return [[step, value if math.isfinite(value) else None] for step, value in points]


def split_ids(values: list[str]) -> list[str]:
    """Run ids from ``ids=a,b&ids=c`` (a form's checkboxes or a typed list), in order, once."""
    found = [part.strip() for value in values for part in value.split(",")]
    ids = list(dict.fromkeys(i for i in found if i))
    if len(ids) > MAX_COMPARED:
        raise InvalidParameterError(
            f"{len(ids)} runs were given; at most {MAX_COMPARED} can be compared at once. "
            "Pick fewer runs."
        )
    return ids


def labels(compared: list[RunInfo]) -> dict[str, str]:
    """A series name per run: its name, with a short id where two runs share a name."""
    counts = Counter(r.name for r in compared)
    return {r.id: r.name if counts[r.name] == 1 else f"{r.name} ({r.id[:8]})" for r in compared}


def visible_projects(
    request: Request, me: Caller, project: str | None, readable: list[str]
) -> list[str] | None:
    """The projects the table may show: the one asked for, every one (None) for a caller
    with a role on all of them, or those the caller may read (``readable``)."""
    if project is not None:
        me.require("viewer", project)
        state_of(request).workspace.get_project(project)  # 404 page naming the projects
        return [project]
    return None if me.can("viewer") else readable


def _common_keys(maps: list[dict[str, Any]], top: int) -> list[str]:
    counts = Counter(key for m in maps for key in m)
    return [key for key, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


# the runs table ---------------------------------------------------------------------------------
@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request,
    me: Viewer,
    project: Text = None,
    status: Text = None,
    q: Text = None,
    sort: Annotated[str, Query(max_length=260)] = "started",
    order: Annotated[str | None, Query(pattern="^(asc|desc)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
    offset: Offset = 0,
) -> HTMLResponse:
    """Runs the caller may read, filtered by project, status and name, sorted by a column
    (or the latest value of a metric), one page at a time."""
    project, status, q = project or None, status or None, (q or "").strip() or None
    descending = order == "desc" if order else sort not in ("name", "status")
    workspace = state_of(request).workspace
    readable = [p.name for p in projects.list_projects(request, me, limit=10_000, offset=0)]
    visible = visible_projects(request, me, project, readable)
    metric_keys = workspace.common_metric_keys(visible, status=status, text=q)
    if sort.startswith("metric:") and sort[7:] not in metric_keys:
        metric_keys = [sort[7:], *metric_keys[:2]]
    found, total = workspace.search_runs(
        visible,
        status=status,
        text=q,
        sort=sort,
        descending=descending,
        limit=limit,
        offset=offset,
        metric_keys=metric_keys,
    )
    filters = {"project": project, "status": status, "q": q}
    kept = {k: v for k, v in filters.items() if v}

    def sort_link(key: str) -> str:
        """The column's header link: sort by it (its natural direction first), or, when the
        table is already sorted by it, the other way round."""
        if key == sort:
            direction = "asc" if descending else "desc"
        else:
            direction = "asc" if key in ("name", "status") else "desc"
        return "?" + urlencode({**kept, "sort": key, "order": direction})

    order_now = "desc" if descending else "asc"
    headers = [
        {"key": key, "label": label, "href": sort_link(key)}
        for key, label in (*COLUMNS, *((f"metric:{m}", m) for m in metric_keys))
    ]
    return render(
        request,
        "runs.html",
        title="Runs",
        me=me,
        runs=found,
        total=total,
        offset=offset,
        limit=limit,
        project=project,
        status_filter=status,
        q=q,
        sort=sort,
        descending=descending,
        headers=headers,
        metric_keys=metric_keys,
        param_keys=_common_keys([r.params for r in found], 3),
        project_names=readable,
        statuses=RUN_STATUSES,
        filtered=bool(kept),
        pager_query="&" + urlencode({**kept, "sort": sort, "order": order_now}),
        run_duration=run_duration,
    )


# several runs side by side -----------------------------------------------------------------------
def _rows(compared: list[RunInfo], attribute: str) -> list[dict[str, Any]]:
    """One row per key of ``params`` or ``metrics``: each run's value, and whether they differ."""
    maps = [getattr(r, attribute) for r in compared]
    rows = []
    for key in sorted({k for m in maps for k in m}):
        shapes = {
            json.dumps(m[key], sort_keys=True, default=str) if key in m else None for m in maps
        }
        rows.append({"key": key, "cells": [m.get(key) for m in maps], "differs": len(shapes) > 1})
    return rows


@router.get("/runs/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    me: Viewer,
    ids: Annotated[list[str] | None, Query(max_length=2000)] = None,
) -> HTMLResponse:
    """Params and final metrics of several runs side by side (differences marked), and one
    chart per metric with a line per run."""
    compared: list[RunInfo] = []
    for run_id in split_ids(ids or []):
        run = runs.get_run(run_id, request, me)
        if run.id not in {r.id for r in compared}:
            compared.append(run)
    charts = []
    if compared:
        others = ",".join(r.id for r in compared[1:])
        for key in sorted({k for r in compared for k in r.metrics}):
            src = f"/runs/{compared[0].id}/metrics.json?" + urlencode(
                {"key": key, **({"compare": others} if others else {})}
            )
            charts.append({"key": key, "src": src})
    return render(
        request,
        "runs_compare.html",
        title="Compare runs",
        me=me,
        compared=compared,
        names=labels(compared),
        params=_rows(compared, "params"),
        metrics=_rows(compared, "metrics"),
        charts=charts,
        ids=",".join(r.id for r in compared),
        run_duration=run_duration,
    )


# one run -------------------------------------------------------------------------------------------
def _readable_run(request: Request, me: Caller, run_id: str) -> RunInfo | None:
    """A related run (parent) when the caller may read it; None otherwise."""
    try:
        return runs.get_run(run_id, request, me)
    except (RunNotFoundError, PermissionDeniedError):
        return None


def lineage_view(run: RunInfo) -> dict[str, Any]:
    """What the run page shows of where a run came from: code version, command, seed,
    environment (python, platform, packages) and any other lineage keys."""
    lineage = dict(run.lineage)
    environment = lineage.pop("environment", None) or {}
    packages = environment.pop("packages", {}) if isinstance(environment, dict) else {}
    command = lineage.pop("command", None)
    seeds = [v for k, v in run.params.items() if k == "seed" or k.endswith(".seed")]
    seed = lineage.pop("seed", seeds[0] if seeds else None)
    return {
        "code": lineage.pop("git_sha", None),
        "command": " ".join(map(str, command)) if isinstance(command, list) else command,
        "seed": seed,
        "environment": sorted(environment.items()) if isinstance(environment, dict) else [],
        "packages": sorted(packages.items()) if isinstance(packages, dict) else [],
        "other": sorted(
            (k, v if isinstance(v, str) else json.dumps(v)) for k, v in lineage.items()
        ),
    }


def artifact_view(run: RunInfo, artifact: Any) -> dict[str, Any]:
    path = quote(artifact.path)
    image = IMAGE_TYPES.get(PurePosixPath(artifact.path).suffix.lower()) is not None
    return {
        "path": artifact.path,
        "size": artifact.size,
        "href": f"/api/v1/runs/{run.id}/artifacts/{path}",
        "image": f"/runs/{run.id}/images/{path}" if image else None,
    }


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: str, request: Request, me: Viewer) -> HTMLResponse:
    """One run: status and error, params and tags, a live chart per metric, artifacts,
    lineage (datasets, code, environment), related runs and the models registered from it."""
    run = runs.get_run(run_id, request, me)
    workspace = state_of(request).workspace
    children = runs.list_runs(
        request, me, project=run.project, status=None, parent_id=run.id, limit=100, offset=0
    )
    # the route function would look the run up again (with its latest metrics): the role
    # check above covers the artifacts too
    artifacts = [artifact_view(run, a) for a in workspace.list_artifacts(run.id)]
    models = [m for m in workspace.model_versions_of_run(run.id) if me.can("viewer", m["project"])]
    charts = [
        {"key": key, "src": f"/runs/{run.id}/metrics.json?" + urlencode({"key": key})}
        for key in sorted(run.metrics)
    ]
    return render(
        request,
        "run.html",
        title=f"Run {run.name}",
        me=me,
        run=run,
        parent=_readable_run(request, me, run.parent_id) if run.parent_id else None,
        children=children,
        artifacts=artifacts,
        images=[a for a in artifacts if a["image"]][:MAX_INLINE_IMAGES],
        models=models,
        charts=charts,
        refresh=5 if run.status == "running" else 0,
        lineage=lineage_view(run),
        registered=_registered_inputs(workspace, run),
        run_duration=run_duration,
    )


def _registered_inputs(workspace: Any, run: Any) -> set[tuple[str, str]]:
    """The run's dataset inputs that the store holds: only those get a link (a split made
    in memory for training is recorded but never registered)."""
    found = set()
    for item in run.inputs:
        if item.get("kind") != "dataset":
            continue
        try:
            workspace.get_dataset_version(item["name"], item["version"])
        except (LookupError, ValueError):
            continue
        found.add((item["name"], item["version"]))
    return found


@router.get("/runs/{run_id}/metrics.json")
def metric_series(
    run_id: str,
    request: Request,
    me: Viewer,
    key: Annotated[str, Query(min_length=1, max_length=250)],
    compare: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    """``{"series": [{"name", "run", "sampled", "points": [[step, value], ...]}]}`` of metric
    ``key`` of the run (and of the ``compare`` runs): every point, or, past ``MAX_POINTS``, a
    sample at evenly spaced steps with the first and the latest point (``sampled``: true)."""
    compared = [runs.get_run(run_id, request, me)]
    for other in split_ids([compare]):
        run = runs.get_run(other, request, me)
        if run.id not in {r.id for r in compared}:
            compared.append(run)
    if len(compared) > MAX_COMPARED:
        raise InvalidParameterError(
            f"{len(compared)} runs were given; at most {MAX_COMPARED} can be compared at once."
        )
    names = labels(compared) if len(compared) > 1 else {compared[0].id: key}
    workspace = state_of(request).workspace
    series = []
    for run in compared:
        points, sampled = workspace.metric_sample(run.id, key, MAX_POINTS)
        series.append(
            {"name": names[run.id], "run": run.id, "sampled": sampled, "points": _finite(points)}
        )
    body = {"series": series, "empty": f"No {key!r} points logged yet."}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/runs/{run_id}/images/{path:path}")
def artifact_image(run_id: str, path: str, request: Request, me: Viewer) -> Response:
    """An image artifact with its image type, for ``<img>`` on the run page. The API serves
    an SVG as a download (opened on its own, its script would run on this origin); here it
    comes with a policy that sandboxes it, so the page can draw it."""
    media = IMAGE_TYPES.get(PurePosixPath(path).suffix.lower())
    if media is None:
        raise InvalidParameterError(
            f"{path!r} is not an image artifact; expected one of {', '.join(IMAGE_TYPES)}. "
            f"Download it from /api/v1/runs/{run_id}/artifacts/{quote(path)} instead."
        )
    response = runs.get_artifact(run_id, path, request, me)
    response.headers["content-type"] = media
    response.headers["content-security-policy"] = IMAGE_CSP
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["cache-control"] = "private, max-age=60"
    return response
