"""Tracked runs: params, tags, metrics as time series, artifacts, status and lineage.

    with lepton.start_run(name="baseline") as run:
        run.log_params({"lr": 0.01})
        for step in range(100):
            run.log_metric("loss", 1 / (step + 1), step=step)

Metric points go through a background flusher (see ``_flusher.py``); ``end()`` and leaving the
``with`` block flush them, so nothing logged is lost on a normal exit or an exception.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from time import time as _now
from types import TracebackType
from typing import Any

from lepton._validation import check_key, finite_float, to_json_value
from lepton.errors import InvalidParameterError, LeptonError
from lepton.workspace import ArtifactInfo, MetricPoint, RunInfo, Workspace, get_workspace

_active: list[Run] = []
_active_lock = threading.Lock()


class Run:
    """A tracked run. Create with :func:`lepton.start_run`; use as a context manager."""

    def __init__(self, workspace: Workspace, info: RunInfo) -> None:
        self._workspace = workspace
        self._info = info
        self._id = info.id
        self._flusher = workspace.metric_writer()
        self._add = self._flusher.add
        self._next_step: dict[str, int] = {}
        self._resumed_steps = workspace.last_steps(info.id) if info.metrics else {}
        self._ended = False

    # identity ---------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._info.id

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def project(self) -> str:
        return self._info.project

    @property
    def workspace(self) -> Workspace:
        return self._workspace

    @property
    def info(self) -> RunInfo:
        """Fresh run details from the store (status, params, latest metrics...)."""
        self._flusher.flush()
        self._info = self._workspace.get_run(self.id)
        return self._info

    @property
    def status(self) -> str:
        return self.info.status

    @property
    def params(self) -> dict[str, Any]:
        return self.info.params

    @property
    def metrics(self) -> dict[str, float]:
        """The latest value of each metric."""
        return self.info.metrics

    def history(self, key: str | None = None) -> list[MetricPoint]:
        """Every logged point of ``key`` (or of all metrics), ordered by step."""
        self._flusher.flush()
        return self._workspace.metric_history(self.id, key)

    # logging ----------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._ended:
            raise InvalidParameterError(
                f"Run {self.id[:8]} ({self.name}) has ended; start a new run with "
                "lepton.start_run() or resume it with lepton.start_run(run_id=...)."
            )

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record hyper-parameters; values must be JSON-serialisable (numpy scalars are fine)."""
        self._check_open()
        if not isinstance(params, Mapping):
            raise InvalidParameterError(
                f"log_params takes a dict of name -> value, got {type(params).__name__}."
            )
        clean = {check_key("param", k): to_json_value(k, v) for k, v in params.items()}
        self._workspace.log_params(self.id, clean)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._check_open()
        self._workspace.set_tags(self.id, {check_key("tag", k): str(v) for k, v in tags.items()})

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Record one point of the metric ``key``; ``step`` defaults to the next one.

        This is the hot path of a training loop: the common case (a known key, a float, no
        step) costs about a microsecond; the point is written later by the background writer.
        """
        if self._ended:
            self._check_open()
        if key not in self._next_step:
            self._first_point(key)
        number = value if type(value) is float else finite_float("Metric", key, value)
        if number - number != 0.0:  # nan or inf, without a function call on the hot path
            finite_float("Metric", key, number)
        if step is None:
            step = self._next_step[key]
        elif type(step) is not int:
            if not isinstance(step, int) or isinstance(step, bool):
                raise InvalidParameterError(f"Metric {key!r}: step must be an int, got {step!r}.")
            step = int(step)
        self._next_step[key] = step + 1
        self._add((self._id, key, step, _now() if timestamp is None else timestamp, number))

    def _first_point(self, key: str) -> None:
        check_key("metric", key)
        # a resumed run continues each metric after its last step
        self._next_step[key] = self._resumed_steps.get(key, -1) + 1

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step=step)

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactInfo]:
        """Upload a file or a folder into this run's artifacts (under ``artifact_path``)."""
        self._check_open()
        return self._workspace.log_artifact(self.id, local_path, artifact_path)

    def log_text(self, text: str, artifact_path: str) -> ArtifactInfo:
        """Store ``text`` as the artifact ``artifact_path`` (e.g. ``"notes/summary.md"``)."""
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            file = Path(folder) / Path(artifact_path).name
            file.write_text(text, encoding="utf-8")
            return self.log_artifact(file, artifact_path)[0]

    def log_dict(self, data: Mapping[str, Any], artifact_path: str) -> ArtifactInfo:
        import json

        return self.log_text(
            json.dumps(to_json_value(artifact_path, dict(data)), indent=2), artifact_path
        )

    def list_artifacts(self) -> list[ArtifactInfo]:
        return self._workspace.list_artifacts(self.id)

    def download_artifacts(self, path: str, dest: str | os.PathLike[str]) -> Path:
        return self._workspace.download_artifacts(self.id, path, dest)

    def add_inputs(self, *inputs: tuple[str, str, str]) -> None:
        """Record lineage inputs as (kind, name, version), e.g. ("dataset", "credit", "3f2a")."""
        self._workspace.add_run_inputs(self.id, inputs)

    def flush(self) -> None:
        """Write buffered metric points now."""
        self._flusher.flush()

    # lifecycle --------------------------------------------------------------------------------
    def end(self, status: str = "finished", error: str | None = None) -> None:
        """Flush metrics and mark the run ``finished`` (or ``failed``/``killed``)."""
        if self._ended:
            return
        self._ended = True
        with _active_lock:
            if self in _active:
                _active.remove(self)
        try:
            self._flusher.flush()
        finally:
            self._workspace.end_run(self.id, status, error)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.end("finished")
        elif issubclass(kind, KeyboardInterrupt):
            self.end("killed", "Interrupted by the user (KeyboardInterrupt).")
        else:
            detail = (
                str(exc)
                if isinstance(exc, LeptonError)
                else "".join(traceback.format_exception(kind, exc, tb, limit=8))
            )
            self.end("failed", f"{kind.__name__}: {detail}"[:10_000])

    def __repr__(self) -> str:
        return f"Run(id={self.id[:8]!r}, name={self.name!r}, project={self.project!r}, status={self._info.status!r})"

    def _repr_html_(self) -> str:
        info = self.info
        started = dt.datetime.fromtimestamp(info.start_time).strftime("%Y-%m-%d %H:%M:%S")
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in [
                ("id", info.id),
                ("project", info.project),
                ("status", info.status),
                ("started", started),
            ]
            + [(f"param {k}", v) for k, v in info.params.items()]
            + [(f"metric {k}", f"{v:.6g}") for k, v in info.metrics.items()]
        )
        return f"<b>Run {html.escape(info.name)}</b><table>{rows}</table>"


def _default_name() -> str:
    return "run-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def start_run(
    name: str | None = None,
    project: str | None = None,
    *,
    tags: Mapping[str, Any] | None = None,
    parent: Run | str | None = None,
    run_id: str | None = None,
) -> Run:
    """Start (or, with ``run_id``, resume) a tracked run, and make it the active run.

    Args:
        name: a readable name; default ``run-YYYYmmdd-HHMMSS``.
        project: the project it belongs to; default the current project (``lepton.yaml``'s
            name inside a project folder, else ``default``).
        tags: string labels.
        parent: the parent run (default: the active run, so nested runs just work).
        run_id: resume this existing run instead of starting a new one.

    Example:
        >>> with lepton.start_run(name="baseline") as run:
        ...     run.log_metric("loss", 0.5)
    """
    from lepton.tracking._lineage import collect
    from lepton.workspace import current_settings

    workspace = get_workspace()
    if run_id is not None:
        info = workspace.reopen_run(run_id)
    else:
        if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 250):
            raise InvalidParameterError(
                f"A run name must be a non-empty string of at most 250 characters, got {name!r}."
            )
        if isinstance(parent, Run):
            parent_id: str | None = parent.id
        elif parent is None:
            current = active_run()
            parent_id = current.id if current is not None else None
        else:
            parent_id = parent
        info = workspace.create_run(
            project or current_settings().project,
            name or _default_name(),
            parent_id=parent_id,
            lineage=collect(),
            tags={check_key("tag", k): str(v) for k, v in (tags or {}).items()},
        )
    run = Run(workspace, info)
    with _active_lock:
        _active.append(run)
    return run


def active_run() -> Run | None:
    """The innermost run started in this process and not yet ended, or None."""
    with _active_lock:
        return _active[-1] if _active else None
