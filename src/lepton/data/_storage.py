"""How a dataset is versioned and which files store it.

* read from one file, unchanged: the version is the sha256 of the file's bytes and the file is
  stored as is;
* an in-memory DataFrame (or a split or sample of a dataset): the version is a hash of its
  columns, dtypes and values, and it is stored as ``data.parquet``;
* images: the version is the sha256 of a manifest (``sha256  name`` lines, sorted) over
  ``labels.csv`` (file name, label; written by Lepton) and every image file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from lepton.data._images import IMAGE_COLUMN
from lepton.data._io import file_sha256, frame_sha256, manifest_sha256

if TYPE_CHECKING:
    from lepton.data._dataset import Dataset

LABELS_FILE = "labels.csv"
FRAME_FILE = "data.parquet"


@dataclass(frozen=True)
class Origin:
    """Where a dataset's content came from, to hash and store it without rereading."""

    source: Path | None = None  # the one file it was read from, unchanged since
    fmt: str | None = None  # "csv" or "parquet", for source
    read_kwargs: dict[str, Any] = field(default_factory=dict)
    image_root: Path | None = None  # the images folder (names are stored relative to it)


def image_names(dataset: Dataset) -> list[str]:
    """Each image's path relative to the images folder (or to the folder they share)."""
    paths = [Path(p) for p in dataset.frame[IMAGE_COLUMN]]
    root = dataset._origin.image_root
    if root is None or not all(p.is_relative_to(root) for p in paths):
        root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    return [p.relative_to(root).as_posix() for p in paths]


def labels_bytes(dataset: Dataset, names: list[str]) -> bytes:
    table = pd.DataFrame({"filename": names})
    if dataset.target is not None:
        table[dataset.target] = dataset.frame[dataset.target].to_numpy()
    return table.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _image_files(dataset: Dataset) -> tuple[bytes, dict[str, Path]]:
    names = image_names(dataset)
    files = {
        f"images/{name}": Path(path)
        for name, path in zip(names, dataset.frame[IMAGE_COLUMN], strict=True)
    }
    return labels_bytes(dataset, names), files


def content_version(dataset: Dataset) -> str:
    if dataset.kind == "images":
        labels, files = _image_files(dataset)
        entries = [(LABELS_FILE, hashlib.sha256(labels).hexdigest())]
        entries += [(name, file_sha256(path)) for name, path in files.items()]
        return manifest_sha256(entries)
    if dataset._origin.source is not None:
        return file_sha256(dataset._origin.source)
    return frame_sha256(dataset.frame)


def files_for_upload(dataset: Dataset, folder: Path) -> tuple[list[tuple[Path, str]], str]:
    """(local path, stored name) of every file of the dataset, and the table's stored name.

    Files that Lepton writes (labels.csv, data.parquet) are written into ``folder``.
    """
    if dataset.kind == "images":
        labels, files = _image_files(dataset)
        (folder / LABELS_FILE).write_bytes(labels)
        return [
            (folder / LABELS_FILE, LABELS_FILE),
            *((p, n) for n, p in files.items()),
        ], LABELS_FILE
    source = dataset._origin.source
    if source is not None:
        return [(source, source.name)], source.name
    dataset.frame.to_parquet(folder / FRAME_FILE, index=False)
    return [(folder / FRAME_FILE, FRAME_FILE)], FRAME_FILE
