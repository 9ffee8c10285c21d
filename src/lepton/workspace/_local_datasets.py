"""Dataset versions in the embedded workspace: files in the artifact store, records in SQL.

A version's files live under the artifact key ``datasets/<name>/<version>/<relative path>``.
The version is a content hash, so two projects holding the same version share the same bytes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lepton._validation import check_name
from lepton.errors import (
    ArtifactNotFoundError,
    DatasetNotFoundError,
    IntegrityError,
    InvalidParameterError,
)
from lepton.store import ArtifactStore, MetadataStore, check_key
from lepton.store._artifacts import hash_stream
from lepton.workspace._records import DATASET_KINDS, DatasetVersionInfo, ProjectInfo

_VERSION = re.compile(r"^[0-9a-f]{64}$")
_PREFIX = re.compile(r"^[0-9a-f]{8,64}$")
_REGISTER_HINT = "Register one with Dataset(...).register() or `lepton data add PATH`."


class LocalDatasetsMixin:
    """The dataset methods of :class:`LocalWorkspace`."""

    meta: MetadataStore
    artifacts: ArtifactStore

    if TYPE_CHECKING:  # provided by LocalWorkspace

        def ensure_project(self, name: str) -> ProjectInfo: ...

        def get_project(self, name: str) -> ProjectInfo: ...

    def add_dataset_version(
        self,
        project: str,
        name: str,
        version: str,
        kind: str,
        target: str | None,
        schema: dict[str, Any],
        profile: dict[str, Any],
        num_rows: int,
        files: Sequence[tuple[Path, str]],
    ) -> DatasetVersionInfo:
        check_name("dataset", name)
        if not isinstance(version, str) or not _VERSION.match(version):
            raise InvalidParameterError(
                f"A dataset version must be a sha256 hex digest (64 lowercase hex characters), "
                f"got {version!r}."
            )
        if kind not in DATASET_KINDS:
            raise InvalidParameterError(
                f"Unknown dataset kind {kind!r}; expected one of {', '.join(DATASET_KINDS)}."
            )
        project_id = self.ensure_project(project).id
        for found in self.meta.find_dataset_versions(name, project_id, version):
            if found["version"] == version:  # already stored: nothing to upload
                return DatasetVersionInfo.from_row(found)
        prefix = f"datasets/{name}/{version}"
        records: list[dict[str, Any]] = []
        for local, relative in files:
            check_key(relative)
            if any(r["path"] == relative for r in records):
                raise InvalidParameterError(
                    f"Two files of dataset {name!r} map to the same path {relative!r}; "
                    "give each file its own relative name."
                )
            if not Path(local).is_file():
                raise ArtifactNotFoundError(
                    str(local), hint="A dataset file to upload must exist on this machine."
                )
            # uploaded before the record: a crash in between leaves unlisted files, never a
            # record that points at nothing
            info = self.artifacts.put_file(f"{prefix}/{relative}", local)
            records.append({"path": relative, "size": info.size, "sha256": info.sha256})
        row = {
            "version": version,
            "kind": kind,
            "target": target,
            "schema": schema,
            "profile": profile,
            "num_rows": int(num_rows),
            "files": records,
            "store_prefix": prefix,
        }
        stored, _created = self.meta.insert_dataset_version(project_id, name, row)
        return DatasetVersionInfo.from_row(stored)

    def _project_id(self, project: str | None) -> str | None:
        return self.get_project(project).id if project is not None else None

    def _versions(self, name: str, project: str | None) -> list[dict[str, Any]]:
        project_id = self._project_id(project)
        rows = self.meta.find_dataset_versions(name, project_id)
        if not rows:
            raise DatasetNotFoundError(
                name, self.meta.list_dataset_names(project_id), hint=_REGISTER_HINT
            )
        return rows

    def get_dataset_version(
        self, name: str, version: str | None = None, project: str | None = None
    ) -> DatasetVersionInfo:
        rows = self._versions(name, project)
        projects = sorted({r["project"] for r in rows})
        if project is None and len(projects) > 1:
            raise InvalidParameterError(
                f"A dataset named {name!r} exists in several projects ({', '.join(projects)}); "
                "pass project=... (or --project) to say which."
            )
        if version is None:
            return DatasetVersionInfo.from_row(rows[0])
        wanted = version.lower() if isinstance(version, str) else ""
        if not _PREFIX.match(wanted):
            raise InvalidParameterError(
                f"Invalid dataset version {version!r}: give the sha256 hex version or at least "
                "its first 8 characters (see `lepton data show NAME`)."
            )
        matches = [r for r in rows if r["version"].startswith(wanted)]
        if len(matches) > 1:
            raise InvalidParameterError(
                f"Version prefix {version!r} matches {len(matches)} versions of {name!r}; "
                "give more characters."
            )
        if not matches:
            raise DatasetNotFoundError(
                f"{name}:{version}",
                [f"{name}:{r['version'][:12]}" for r in rows],
                hint="List versions with `lepton data show NAME`.",
            )
        return DatasetVersionInfo.from_row(matches[0])

    def list_datasets(self, project: str | None = None) -> list[DatasetVersionInfo]:
        rows = self.meta.list_latest_dataset_versions(self._project_id(project))
        return [DatasetVersionInfo.from_row(row) for row in rows]

    def list_dataset_versions(
        self, name: str, project: str | None = None
    ) -> list[DatasetVersionInfo]:
        return [DatasetVersionInfo.from_row(row) for row in self._versions(name, project)]

    def open_dataset_file(
        self, name: str, version: str | None, path: str, project: str | None = None
    ) -> BinaryIO:
        info = self.get_dataset_version(name, version, project)
        if not any(f["path"] == path for f in info.files):
            raise ArtifactNotFoundError(
                path, [f["path"] for f in info.files], hint=f"(dataset {info.ref})"
            )
        return self.artifacts.open(f"{info.store_prefix}/{path}")

    def download_dataset(
        self,
        name: str,
        version: str | None,
        dest: str | os.PathLike[str],
        project: str | None = None,
    ) -> Path:
        info = self.get_dataset_version(name, version, project)
        dest = Path(dest)
        for record in info.files:
            target = self.artifacts.download(
                f"{info.store_prefix}/{record['path']}", dest / record["path"]
            )
            with open(target, "rb") as stream:
                digest, _size = hash_stream(stream)
            if digest != record["sha256"]:
                target.unlink()
                raise IntegrityError(
                    f"File {record['path']!r} of dataset {info.ref} has sha256 {digest[:12]}..., "
                    f"but {record['sha256'][:12]}... was recorded: the stored copy was changed "
                    "or damaged. Register the dataset again from its source files."
                )
        return dest
