"""The output folder of a batch prediction: fixed-size chunks, one Parquet part per chunk.

Chunk ``i`` holds rows ``[i * chunk_rows, (i + 1) * chunk_rows)`` of the input, so a chunk
means the same rows in every run. Each part is written whole or not at all (temp file +
rename), so a part that exists is finished: a re-run with the same model, data and chunk size
scores only the chunks that have no part yet. ``_lepton.json`` records what the parts were
scored from, so a re-run with anything else refuses to mix them. Readers skip names that start
with ``_`` or ``.``, so ``pandas.read_parquet(folder)`` reads the predictions and nothing else.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.errors import InvalidParameterError
from lepton.scoring._errors import OutputConflictError

if TYPE_CHECKING:
    import pandas as pd

MANIFEST = "_lepton.json"
FORMAT = "lepton-batch-prediction/1"
_PART = re.compile(r"^part-(\d{5,})\.parquet$")
_OURS = re.compile(
    r"^(part-\d{5,}\.parquet|_lepton\.json|\.(part-\d{5,}\.parquet|_lepton\.json)-.*)$"
)


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first row, inclusive
    stop: int  # last row, exclusive

    @property
    def rows(self) -> int:
        return self.stop - self.start


def plan_chunks(rows: int, chunk_rows: int) -> list[Chunk]:
    """Rows ``0..rows`` cut into chunks of ``chunk_rows`` (the last one may be shorter)."""
    return [
        Chunk(i, start, min(start + chunk_rows, rows))
        for i, start in enumerate(range(0, rows, chunk_rows))
    ]


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


class OutputFolder:
    """Where parts and the manifest go; refuses a file, an unwritable path or foreign files."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, str | os.PathLike) or not os.fspath(path).strip():
            raise InvalidParameterError(
                f"output must be the path of a folder for the Parquet parts, got {path!r}."
            )
        self.path = Path(path).expanduser()
        if self.path.exists() and not self.path.is_dir():
            raise InvalidParameterError(
                f"output {str(self.path)!r} is a file; predict_batch writes a folder of Parquet "
                "parts. Pass a new or empty folder, e.g. 'predictions/'."
            )

    def prepare(self, identity: dict[str, Any], *, resume: bool) -> set[int]:
        """Make the folder ready for a run described by ``identity``; return the finished
        chunks a resume keeps (none when starting over)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise InvalidParameterError(
                f"Cannot write predictions to {str(self.path)!r}: {exc.strerror or exc}. Pass a "
                "folder you can write to."
            ) from exc
        foreign = sorted(p.name for p in self.path.iterdir() if not _OURS.match(p.name))
        if foreign:
            raise OutputConflictError(
                f"output {str(self.path)!r} holds files that are not batch predictions "
                f"({foreign[:5]}); they are left alone. Pass a new or empty folder."
            )
        previous = self._read_manifest()
        if previous is not None and resume:
            differences = _differences(previous, identity)
            if differences:
                raise OutputConflictError(
                    f"output {str(self.path)!r} holds predictions of another scoring "
                    f"({'; '.join(differences)}); parts of both would be mixed. Pass "
                    "resume=False (--fresh on the CLI) to replace them, or another output folder."
                )
            for entry in self.path.iterdir():  # parts an interrupted run left half-written
                if entry.name.startswith("."):
                    entry.unlink()
            return self.finished()
        for entry in self.path.iterdir():  # starting over: only our own files are removed
            entry.unlink()
        self._write_manifest({**identity, "complete": False})
        return set()

    def finished(self) -> set[int]:
        return {int(m.group(1)) for p in self.path.iterdir() if (m := _PART.match(p.name))}

    def write_part(self, index: int, frame: pd.DataFrame) -> Path:
        """Write chunk ``index`` as one Parquet file, whole or not at all."""
        from lepton._fs import atomic_write_bytes

        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return atomic_write_bytes(self.path / part_name(index), buffer.getvalue())

    def mark_complete(self) -> None:
        manifest = self._read_manifest() or {}
        self._write_manifest({**manifest, "complete": True})

    def _read_manifest(self) -> dict[str, Any] | None:
        path = self.path / MANIFEST
        if not path.is_file():
            return None
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {"format": "unreadable"}
        return manifest if isinstance(manifest, dict) else {"format": "unreadable"}

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        from lepton._fs import atomic_write_text

        atomic_write_text(self.path / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))


def identity(
    *,
    model_ref: str,
    fingerprint: str,
    data_name: str,
    data_version: str,
    rows: int,
    chunk_rows: int,
    columns: list[str],
) -> dict[str, Any]:
    """What a run's parts were scored from: the manifest a resume compares against."""
    return {
        "format": FORMAT,
        "model": {"ref": model_ref, "fingerprint": fingerprint},
        "data": {"name": data_name, "version": data_version, "rows": rows},
        "chunk_rows": chunk_rows,
        "columns": columns,
    }


def _differences(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    if previous.get("format") != FORMAT:
        return [f"{MANIFEST} is unreadable or of format {previous.get('format')!r}"]
    found = []
    old_model, new_model = previous.get("model") or {}, current["model"]
    if old_model.get("fingerprint") != new_model["fingerprint"]:
        if old_model.get("ref") == new_model["ref"]:
            found.append(
                f"model {new_model['ref']!r} there and now, but with other content; a model "
                "object is saved anew on each call, so to resume pass a bundle path "
                "(lepton.save_model) or a registered model instead"
            )
        else:
            found.append(f"model {old_model.get('ref')!r} there, {new_model['ref']!r} now")
    old_data, new_data = previous.get("data") or {}, current["data"]
    if (old_data.get("version"), old_data.get("rows")) != (new_data["version"], new_data["rows"]):
        found.append(
            f"data {old_data.get('name')!r} version {str(old_data.get('version'))[:12]} there, "
            f"{new_data['name']!r} version {new_data['version'][:12]} now"
        )
    if previous.get("chunk_rows") != current["chunk_rows"]:
        found.append(
            f"batch_size={previous.get('chunk_rows')} there, {current['chunk_rows']} now "
            f"(pass batch_size={previous.get('chunk_rows')} to resume)"
        )
    return found
