"""RemoteWorkspace methods of runs, metrics and artifacts, over the team server's REST API.

Metric points travel in batches of compact arrays; artifacts travel as streamed
``application/octet-stream`` bodies, one file per request, never read whole into memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from lepton.errors import (
    ArtifactNotFoundError,
    IntegrityError,
    InvalidParameterError,
    ServerUnavailableError,
)
from lepton.store._artifacts import check_key
from lepton.workspace._base import artifact_files
from lepton.workspace._records import ArtifactInfo, MetricPoint, RunInfo
from lepton.workspace._remote_http import segment

if TYPE_CHECKING:
    from lepton.store._metadata import MetricRow
    from lepton.workspace._remote_http import Transport

T = TypeVar("T")
METRICS_PER_REQUEST = 50_000  # ~4 MB of JSON: well under the server's body limit
PAGE = 1000  # rows per request when a listing is read whole
_CHUNK = 1 << 20


def file_url(path: str) -> str:
    """A relative file path for a URL: each part quoted, the slashes kept."""
    return "/".join(segment(part) for part in check_key(path).split("/"))


def every_page(fetch: Callable[[int, int], list[T]], page: int = PAGE) -> list[T]:
    """All rows of a paged listing: ``fetch(limit, offset)`` until a short page."""
    rows: list[T] = []
    while True:
        batch = fetch(page, len(rows))
        rows.extend(batch)
        if len(batch) < page:
            return rows


def download_file(http: Transport, url: str, target: Path, sha256: str | None, what: str) -> Path:
    """Stream ``url`` into ``target`` (atomically: a temp file, then a rename), checking the
    bytes against ``sha256``; raises IntegrityError on a mismatch and leaves nothing behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".lepton-", dir=target.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, http.stream(url) as response:
            for chunk in response.iter_bytes(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        got = digest.hexdigest()
        if sha256 is not None and got != sha256:
            raise IntegrityError(
                f"{what} has sha256 {got[:12]}..., but {sha256[:12]}... was recorded: the "
                "stored copy was changed or damaged (or the transfer was). Download it again; "
                "if it persists, register it again from its source files."
            )
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


class _ResponseReader(io.RawIOBase):
    """A streamed download as a readable binary file; closing it ends the request."""

    def __init__(self, http: Transport, url: str) -> None:
        self._stack = contextlib.ExitStack()
        response = self._stack.enter_context(http.stream(url))
        self._chunks: Iterator[bytes] = response.iter_bytes(_CHUNK)
        self._buffer = b""
        self._url = http.url

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        import httpx

        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
            except httpx.TransportError as exc:
                raise ServerUnavailableError(
                    f"The download from {self._url} broke off ({type(exc).__name__}: {exc}). "
                    "Open the file again."
                ) from exc
        count = min(len(buffer), len(self._buffer))
        buffer[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def close(self) -> None:
        if not self.closed:
            self._stack.close()
        super().close()


def open_remote_file(http: Transport, url: str) -> BinaryIO:
    """A readable binary file over a streamed GET of ``url``."""
    return io.BufferedReader(_ResponseReader(http, url), _CHUNK)


def _artifact(row: dict[str, Any]) -> ArtifactInfo:
    return ArtifactInfo(**row)


class RemoteRunsMixin:
    """The run, metric and artifact methods of :class:`RemoteWorkspace`."""

    http: Transport

    # runs -------------------------------------------------------------------------------------
    def create_run(
        self,
        project: str,
        name: str,
        *,
        parent_id: str | None = None,
        lineage: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> RunInfo:
        body = {
            "project": project,
            "name": name,
            "parent_id": parent_id,
            "lineage": lineage or {},
            "tags": tags or {},
        }
        return RunInfo(**self.http.call("POST", "/runs", json=body))

    def _run_url(self, run_id: str, *rest: str) -> str:
        if not isinstance(run_id, str) or not run_id:
            raise InvalidParameterError(f"A run id must be a non-empty string, got {run_id!r}.")
        return "/".join(("/runs", segment(run_id), *rest))

    def get_run(self, run_id: str) -> RunInfo:
        return RunInfo(**self.http.call("GET", self._run_url(run_id)))

    def list_runs(
        self,
        project: str | None = None,
        *,
        status: str | None = None,
        parent_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunInfo]:
        params = {"project": project, "status": status, "parent_id": parent_id}
        params = {k: v for k, v in params.items() if v is not None}
        if limit < 1 or offset < 0:  # the same message as the embedded workspace
            raise InvalidParameterError(
                f"limit must be >= 1 and offset >= 0, got limit={limit}, offset={offset}."
            )

        def fetch(count: int, start: int) -> list[RunInfo]:
            query = {**params, "limit": count, "offset": offset + start}
            return [RunInfo(**r) for r in self.http.call("GET", "/runs", params=query)]

        if limit <= PAGE:
            return fetch(limit, 0)
        rows: list[RunInfo] = []  # a long listing, read in pages the server accepts
        while len(rows) < limit:
            batch = fetch(min(PAGE, limit - len(rows)), len(rows))
            rows.extend(batch)
            if len(batch) < PAGE:
                break
        return rows

    def end_run(self, run_id: str, status: str, error: str | None = None) -> None:
        self.http.call(
            "POST", self._run_url(run_id, "end"), json={"status": status, "error": error}
        )

    def reopen_run(self, run_id: str) -> RunInfo:
        return RunInfo(**self.http.call("POST", self._run_url(run_id, "reopen")))

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        if params:
            self.http.call("POST", self._run_url(run_id, "params"), json={"params": params})

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        if tags:
            body = {"tags": {k: str(v) for k, v in tags.items()}}
            self.http.call("POST", self._run_url(run_id, "tags"), json=body)

    def update_lineage(self, run_id: str, lineage: dict[str, Any]) -> None:
        self.http.call("PATCH", self._run_url(run_id, "lineage"), json={"lineage": lineage})

    def add_run_inputs(self, run_id: str, inputs: Iterable[tuple[str, str, str]]) -> None:
        rows = [list(i) for i in inputs]
        if rows:
            self.http.call("POST", self._run_url(run_id, "inputs"), json={"inputs": rows})

    # metrics ----------------------------------------------------------------------------------
    def log_metrics(self, rows: Sequence[MetricRow]) -> None:
        """One request per batch (split only past ``METRICS_PER_REQUEST`` points)."""
        for start in range(0, len(rows), METRICS_PER_REQUEST):
            points = rows[start : start + METRICS_PER_REQUEST]
            self.http.call("POST", "/metrics", json={"points": list(points)})

    def metric_history(self, run_id: str, key: str | None = None) -> list[MetricPoint]:
        url = self._run_url(run_id, "metrics")
        params = {} if key is None else {"key": key}
        page = 1_000_000

        def fetch(count: int, start: int) -> list[MetricPoint]:
            query = {**params, "limit": count, "offset": start}
            return [MetricPoint(*p) for p in self.http.call("GET", url, params=query)]

        return every_page(fetch, page)

    def last_steps(self, run_id: str) -> dict[str, int]:
        steps = self.http.call("GET", self._run_url(run_id, "last-steps"))
        return {str(k): int(v) for k, v in steps.items()}

    # artifacts --------------------------------------------------------------------------------
    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactInfo]:
        files = artifact_files(local_path, artifact_path)
        for _, path in files:  # every path checked before the first byte is sent
            check_key(path)
        logged = []
        for file, path in files:
            with open(file, "rb") as body:  # httpx streams a file body in chunks
                row = self.http.call(
                    "PUT",
                    self._run_url(run_id, "artifacts", file_url(path)),
                    content=body,
                    headers={"content-type": "application/octet-stream"},
                )
            logged.append(_artifact(row))
        return logged

    def list_artifacts(self, run_id: str) -> list[ArtifactInfo]:
        url = self._run_url(run_id, "artifacts")

        def fetch(count: int, start: int) -> list[ArtifactInfo]:
            rows = self.http.call("GET", url, params={"limit": count, "offset": start})
            return [_artifact(r) for r in rows]

        return every_page(fetch)

    def open_artifact(self, run_id: str, path: str) -> BinaryIO:
        return open_remote_file(self.http, self._run_url(run_id, "artifacts", file_url(path)))

    def download_artifacts(self, run_id: str, path: str, dest: str | os.PathLike[str]) -> Path:
        dest = Path(dest)
        records = self.list_artifacts(run_id)
        exact = [r for r in records if r.path == path]
        prefix = path.rstrip("/") + "/"
        chosen = exact or [r for r in records if r.path.startswith(prefix)]
        if not chosen:
            raise ArtifactNotFoundError(path, [r.path for r in records], hint=f"(run {run_id})")
        for record in chosen:
            # the server names the files: check each before it becomes a local path
            target = dest if exact else dest / check_key(record.path[len(prefix) :])
            download_file(
                self.http,
                self._run_url(run_id, "artifacts", file_url(record.path)),
                target,
                record.sha256,
                f"Artifact {record.path!r} of run {run_id}",
            )
        return dest
