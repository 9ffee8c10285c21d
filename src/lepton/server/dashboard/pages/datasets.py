"""Dashboard pages: datasets. The list of datasets (newest version of each) and one dataset:
its versions, the schema of the chosen version, its stored profile drawn as per-column
distributions, and the personal data found in it.

Records come from the REST API's route functions (they check the caller's role). The profile
is stored with each version, so a page never reads the data itself, except to show counts and
masked examples of personal data in the columns the profile flagged: that reads at most
``SCAN_ROWS`` rows of the stored table, once per version (cached).
"""

from __future__ import annotations

import io
import logging
import threading
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from lepton.errors import LeptonError
from lepton.server._context import Caller, state_of
from lepton.server.dashboard._render import render
from lepton.server.dashboard._session import Viewer
from lepton.server.routes import datasets, projects
from lepton.workspace._records import DatasetVersionInfo

log = logging.getLogger("lepton.server")
router = APIRouter()
Text = Annotated[str | None, Query(max_length=200)]

SCAN_ROWS = 10_000  # rows read to count personal data and pick masked examples
MAX_SCAN_BYTES = 64 * 1024 * 1024  # a non-seekable Parquet file is read whole: not past this
_CACHE_SIZE = 64
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz", ".zst": "zstd"}
BAR_WIDTH, BAR_HEIGHT = 160, 40  # the histogram's SVG, in px


def _names(request: Request, me: Caller) -> list[str]:
    return [p.name for p in projects.list_projects(request, me, limit=10_000, offset=0)]


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, me: Viewer, project: Text = None) -> HTMLResponse:
    """The newest version of every dataset the caller may read (of one project, or all)."""
    project = project or None
    latest = datasets.list_datasets(request, me, project=project, limit=10_000, offset=0)
    return render(
        request,
        "datasets.html",
        title="Datasets",
        me=me,
        datasets=latest,
        project=project,
        project_names=_names(request, me),
        ambiguous=None,
    )


# one dataset ---------------------------------------------------------------------------------------
def histogram_bars(histogram: dict[str, list[Any]] | None) -> list[dict[str, Any]]:
    """SVG rectangles of a stored histogram (``edges`` and ``counts``), tallest = full height."""
    if not histogram or not histogram.get("counts"):
        return []
    counts, edges = histogram["counts"], histogram.get("edges") or []
    tallest = max(counts) or 1
    width = BAR_WIDTH / len(counts)
    bars = []
    for i, count in enumerate(counts):
        height = max(BAR_HEIGHT * count / tallest, 1.0) if count else 0.0  # a few rows still show
        span = f"{edges[i]:.4g} to {edges[i + 1]:.4g}" if len(edges) > i + 1 else f"bin {i + 1}"
        bars.append(
            {
                "x": round(i * width, 1),
                "y": round(BAR_HEIGHT - height, 1),
                "width": round(max(width - 1, 1), 1),
                "height": round(height, 1),
                "label": f"{span}: {count:,} rows",
            }
        )
    return bars


def _role(name: str, info: DatasetVersionInfo, column_type: str) -> str:
    spec = info.schema.get("dataset") or {}
    if name == info.target:
        return "target"
    if name == spec.get("text_column"):
        return "text input"
    if column_type == "image":
        return "image path"
    return "feature"


def column_views(info: DatasetVersionInfo) -> list[dict[str, Any]]:
    """One row per column: schema (type, role, nullable) and profile (missing share, stats,
    distribution), in the table's column order."""
    profiled = {c["name"]: c for c in info.profile.get("columns", [])}
    schema = info.schema.get("columns") or [
        {"name": n, "type": c.get("type", "?"), "dtype": "", "inferred": True}
        for n, c in profiled.items()
    ]
    views = []
    for column in schema:
        name = column["name"]
        stats = profiled.get(name, {})
        count, missing = stats.get("count", 0), stats.get("missing", 0)
        top = stats.get("top") or []
        views.append(
            {
                "name": name,
                "type": column.get("type", "?"),
                "dtype": column.get("dtype", ""),
                "inferred": column.get("inferred", True),
                "role": _role(name, info, column.get("type", "")),
                "profiled": name in profiled,
                "missing": missing,
                "missing_share": missing / (count + missing) if count + missing else 0.0,
                "unique": stats.get("unique"),
                "stats": stats.get("stats") or {},
                "bars": histogram_bars(stats.get("histogram")),
                "top": top,
                "top_max": max((c for _, c in top), default=1),
                "pii": stats.get("pii") or [],
            }
        )
    return views


def _versions_using(request: Request, me: Caller, name: str) -> dict[str, list[dict[str, Any]]]:
    """Runs (that the caller may read) which recorded each version of ``name`` as an input."""
    used: dict[str, list[dict[str, Any]]] = {}
    for run in state_of(request).workspace.runs_with_input("dataset", name):
        if me.can("viewer", run["project"]):
            used.setdefault(run["version"], []).append(run)
    return used


@router.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_page(
    name: str,
    request: Request,
    me: Viewer,
    version: Annotated[str | None, Query(max_length=64)] = None,
    project: Text = None,
) -> HTMLResponse:
    """One dataset: its versions, and the chosen version's (default: the newest) schema,
    profile and personal-data findings."""
    version, project = version or None, project or None
    versions = datasets.list_dataset_versions(
        name, request, me, project=project, limit=10_000, offset=0
    )
    if project is None and len({v.project for v in versions}) > 1:
        holding = {v.project for v in versions if version and v.version.startswith(version)}
        if len(holding) != 1:  # the same name in several projects: let the user pick one
            latest: dict[str, DatasetVersionInfo] = {}
            for v in versions:  # newest first
                latest.setdefault(v.project, v)
            return render(
                request,
                "datasets.html",
                title=f"Dataset {name}",
                me=me,
                datasets=sorted(latest.values(), key=lambda v: v.project),
                project=None,
                project_names=_names(request, me),
                ambiguous=name,
            )
        project = holding.pop()
    chosen = datasets.get_dataset_version(name, request, me, version=version, project=project)
    findings, scanned = pii_findings(request, chosen)
    return render(
        request,
        "dataset.html",
        title=f"Dataset {name}",
        me=me,
        info=chosen,
        versions=[v for v in versions if v.project == chosen.project],
        used_by=_versions_using(request, me, chosen.name),
        columns=column_views(chosen),
        findings=findings,
        scanned=scanned,
        scan_rows=SCAN_ROWS,
        bar_width=BAR_WIDTH,
        bar_height=BAR_HEIGHT,
    )


# personal data -------------------------------------------------------------------------------------
_findings: dict[str, tuple[list[dict[str, Any]], int | None]] = {}
_findings_lock = threading.Lock()


def pii_findings(
    request: Request, info: DatasetVersionInfo
) -> tuple[list[dict[str, Any]], int | None]:
    """Findings (column, kind, count, masked examples) in the columns the stored profile
    flagged, and how many rows were scanned (None: the table could not be read, so only
    the kinds are known). Nothing is read for a version whose profile flagged nothing."""
    flagged = {c["name"]: c["pii"] for c in info.profile.get("columns", []) if c.get("pii")}
    if not flagged:
        return [], 0
    with _findings_lock:
        if info.id in _findings:
            return _findings[info.id]
    try:
        frame = _sample(request, info, list(flagged))
    except (LeptonError, OSError, ValueError, KeyError, ImportError) as error:
        log.warning("cannot scan dataset %s for personal data: %s", info.ref, error)
        frame = None
    found = _scan(flagged, frame)
    with _findings_lock:
        if len(_findings) >= _CACHE_SIZE:
            _findings.pop(next(iter(_findings)))
        _findings[info.id] = found
    return found


def _scan(flagged: dict[str, list[str]], frame: Any) -> tuple[list[dict[str, Any]], int | None]:
    from lepton.data._pii import scan_column

    rows: list[dict[str, Any]] = []
    for column, kinds in flagged.items():
        hits = {}
        if frame is not None and column in frame.columns:
            hits = {f.kind: f for f in scan_column(column, frame[column])}
        for kind in dict.fromkeys([*kinds, *hits]):
            hit = hits.get(kind)
            rows.append(
                {"column": column, "kind": kind, "count": hit.count if hit else None,
                 "examples": hit.examples if hit else []}
            )  # fmt: skip
    return rows, (len(frame) if frame is not None else None)


def _sample(request: Request, info: DatasetVersionInfo, columns: list[str]) -> Any:
    """The first ``SCAN_ROWS`` rows of ``columns`` of a version's stored table."""
    import pandas as pd

    spec = info.schema.get("dataset") or {}
    table = spec.get("table")
    if not table:
        return None
    suffixes = PurePosixPath(table).suffixes
    fmt = spec.get("format") or ("parquet" if suffixes[-1:] in ([".parquet"], [".pq"]) else "csv")
    workspace = state_of(request).workspace
    with workspace.open_dataset_file(info.name, info.version, table, info.project) as handle:
        if fmt != "parquet":
            kwargs = {**(spec.get("read_kwargs") or {}), "nrows": SCAN_ROWS}
            kwargs.setdefault("compression", _COMPRESSION.get(suffixes[-1] if suffixes else ""))
            if table.lower().endswith(".tsv") and "sep" not in kwargs:
                kwargs["sep"] = "\t"
            return pd.read_csv(handle, **kwargs)
        import pyarrow.parquet as pq

        source: Any = handle
        if not handle.seekable():
            size = next((int(f["size"]) for f in info.files if f["path"] == table), 0)
            if size > MAX_SCAN_BYTES:
                return None
            source = io.BytesIO(handle.read())
        parquet = pq.ParquetFile(source)
        present = [c for c in columns if c in parquet.schema_arrow.names]
        batch = next(parquet.iter_batches(batch_size=SCAN_ROWS, columns=present), None)
        return batch.to_pandas() if batch is not None else pd.DataFrame(columns=present)
