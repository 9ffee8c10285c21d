"""Datasets in the workspace: register a version, load one back, list them."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.errors import DataError, DatasetNotFoundError, ProjectNotFoundError
from lepton.workspace import DatasetVersionInfo, current_settings, get_workspace

if TYPE_CHECKING:  # the dataset modules import pandas: loaded only to read or write data
    from lepton.data._dataset import Dataset


def _spec(dataset: Dataset, table: str) -> dict[str, Any]:
    """The schema plus what is needed to rebuild the Dataset from its stored files."""
    return {
        **dataset.schema.to_dict(),
        "dataset": {
            "table": table,
            "format": dataset._origin.fmt,
            "read_kwargs": dataset._origin.read_kwargs,
            "input_shape": list(dataset.input_shape) if dataset.input_shape else None,
            "text_column": dataset.text_column,
        },
    }


def register(dataset: Dataset, project: str | None = None) -> DatasetVersionInfo:
    """Store ``dataset`` in the workspace; the same content is stored once (see Dataset.register)."""
    from lepton.data._io import file_sha256
    from lepton.data._storage import files_for_upload

    workspace = get_workspace()
    project = project or dataset._project or current_settings().project
    version = dataset.version
    try:
        return workspace.get_dataset_version(dataset.name, version, project)
    except (DatasetNotFoundError, ProjectNotFoundError):
        pass
    source = dataset._origin.source
    if source is not None and file_sha256(source) != version:
        raise DataError(
            f"{source} changed after dataset {dataset.name!r} was read from it, so the data "
            "in memory no longer matches the file. Read the file again, then register."
        )
    profile = dataset.profile().to_dict()
    with tempfile.TemporaryDirectory(prefix="lepton-dataset-") as folder:
        files, table = files_for_upload(dataset, Path(folder))
        return workspace.add_dataset_version(
            project,
            dataset.name,
            version,
            dataset.kind,
            dataset.target,
            _spec(dataset, table),
            profile,
            len(dataset),
            files,
        )


def _split_ref(name: str, version: str | None) -> tuple[str, str | None]:
    if version is None and ":" in name:
        name, version = name.split(":", 1)
    return name, version


def dataset_info(
    name: str, version: str | None = None, project: str | None = None
) -> DatasetVersionInfo:
    """The stored record of ``name`` (or ``"name:version"``), the newest version by default."""
    name, version = _split_ref(name, version)
    return get_workspace().get_dataset_version(name, version, project)


def load_dataset(name: str, version: str | None = None, *, project: str | None = None) -> Dataset:
    """A registered dataset, read back from the workspace (the newest version by default).

    ``name`` may carry the version: ``load_dataset("credit:3f2a9c1e")``; 8 characters of the
    version are enough. Files are downloaded once into ``LEPTON_HOME/cache/datasets``.

    Raises:
        DatasetNotFoundError: no such dataset or version (the message lists those that exist).
    """
    from lepton.data._build import cache_folder

    info = dataset_info(name, version, project)
    folder = cache_folder("datasets") / info.name / info.version
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=folder.parent))
        try:
            get_workspace().download_dataset(info.name, info.version, staging, info.project)
            try:
                os.rename(staging, folder)
            except OSError:  # another process finished the same download first
                if not folder.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return from_version(info, folder)


def from_version(info: DatasetVersionInfo, folder: Path) -> Dataset:
    """Rebuild a Dataset from a stored version's record and its downloaded files."""
    from lepton.data._build import read
    from lepton.data._dataset import Dataset
    from lepton.data._storage import Origin

    spec = info.schema.get("dataset", {})
    overrides = {c["name"]: c["type"] for c in info.schema["columns"] if not c["inferred"]}
    if info.kind == "images":
        dataset = Dataset(
            info.name,
            folder / spec["table"],
            folder / "images",
            spec["input_shape"],
            target=info.target,
            schema=overrides,
        )
    else:
        frame, origin = read(folder / spec["table"], spec.get("format"), spec.get("read_kwargs"))
        if spec.get("format") is None:  # data.parquet, written by Lepton from a DataFrame
            origin = Origin()
        dataset = Dataset._make(
            info.name,
            info.kind,
            frame,
            target=info.target,
            schema=overrides,
            origin=origin,
            text_column=spec.get("text_column"),
        )
    dataset._version = info.version
    dataset._project = info.project
    return dataset


def list_datasets(project: str | None = None) -> list[DatasetVersionInfo]:
    """The newest version of every registered dataset (of ``project``, or of all projects)."""
    return get_workspace().list_datasets(project)


def list_versions(name: str, project: str | None = None) -> list[DatasetVersionInfo]:
    """Every stored version of ``name``, newest first."""
    return get_workspace().list_dataset_versions(name, project)
