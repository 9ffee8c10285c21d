"""Building an image dataset's table: from a label table plus a folder, or class sub-folders.

The result is always a DataFrame with an ``image`` column (absolute path) and, when labelled,
a label column. A ``.zip`` of images is extracted once to a cache folder keyed by its sha256.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lepton.data._io import file_sha256, read_table
from lepton.data._schema import IMAGE_SUFFIXES
from lepton.errors import DataError, InvalidParameterError

if TYPE_CHECKING:
    import torch

IMAGE_COLUMN = "image"
FILENAME_NAMES = ("filename", "file", "file_name", "image", "image_path", "path", "img", "filepath")
LABEL_NAMES = ("label", "labels", "class", "target", "y", "category")
DEFAULT_INPUT_SHAPE = (224, 224, 3)
_SHOWN = 5


def check_input_shape(value: Any) -> tuple[int, int, int]:
    """``(height, width, channels)`` with channels 1, 3 or 4."""
    try:
        shape = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape[:2]) < 1 or shape[2] not in (1, 3, 4):
        raise InvalidParameterError(
            f"input_shape must be (height, width, channels) with channels 1, 3 or 4, got "
            f"{value!r} (for example (224, 224, 3))."
        )
    return shape  # type: ignore[return-value]


def _pick(columns: list[str], names: tuple[str, ...], exclude: str | None = None) -> str | None:
    by_lower = {str(c).lower(): str(c) for c in columns if c != exclude}
    return next((by_lower[n] for n in names if n in by_lower), None)


def detect_columns(frame: pd.DataFrame, target: str | None, what: str) -> tuple[str, str | None]:
    """The file-name column and the label column of a label table."""
    columns = [str(c) for c in frame.columns]
    file_column = _pick(columns, FILENAME_NAMES, exclude=target)
    if file_column is None and len(columns) == 2 and target in (None, columns[1]):
        file_column = columns[0]
    if file_column is None:
        raise DataError(
            f"Cannot find the file-name column in {what}: its columns are "
            f"{', '.join(columns)}; expected one named {' or '.join(FILENAME_NAMES[:4])} "
            "(or a table of exactly two columns: file name, label). Rename the column."
        )
    if target is not None:
        if target not in columns:
            raise DataError(
                f"Target column {target!r} is not in {what}; its columns are "
                f"{', '.join(columns)}. Pass target= one of them."
            )
        return file_column, target
    label = _pick(columns, LABEL_NAMES, exclude=file_column)
    if label is None and len(columns) == 2:
        label = next(c for c in columns if c != file_column)
    return file_column, label


def _missing_message(missing: list[str], count: int, column: str, root: Path, what: str) -> str:
    shown = ", ".join(repr(m) for m in missing[:_SHOWN])
    more = f" and {count - _SHOWN} more" if count > _SHOWN else ""
    return (
        f"{count} image file(s) named in column {column!r} of {what} are not in {root}: "
        f"{shown}{more}. Check the images folder and the file names in the table "
        "(names are relative to the folder)."
    )


def frame_from_table(
    table: str | os.PathLike[str] | pd.DataFrame, root: Path, target: str | None
) -> tuple[pd.DataFrame, str | None]:
    """The image table from a label table (file names relative to ``root``)."""
    if isinstance(table, pd.DataFrame):
        labels, what = table.reset_index(drop=True), "the label table"
    else:
        labels, what = read_table(table), repr(Path(table).name)
    file_column, label = detect_columns(labels, target, what)
    names = labels[file_column]
    if names.isna().any():
        rows = ", ".join(str(i) for i in np.flatnonzero(names.isna().to_numpy())[:_SHOWN])
        raise DataError(
            f"Column {file_column!r} of {what} has {int(names.isna().sum())} empty file "
            f"name(s), at rows {rows}; every row needs an image file name."
        )
    paths = [root / str(n) for n in names]
    missing = [str(n) for n, p in zip(names, paths, strict=True) if not p.is_file()]
    if missing:
        raise DataError(_missing_message(missing, len(missing), file_column, root, what))
    frame = pd.DataFrame({IMAGE_COLUMN: [str(p.resolve()) for p in paths]})
    if label is not None:
        if label == IMAGE_COLUMN:
            raise DataError(
                f"The label column of {what} is named {IMAGE_COLUMN!r}, which Lepton uses for "
                "the image paths; rename it (for example to 'label')."
            )
        frame[label] = labels[label].to_numpy()
    return frame, label


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not _hidden(path.name)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def frame_from_folders(root: Path) -> tuple[pd.DataFrame, str | None]:
    """The image table of ``root/<class>/<image>`` (labelled) or ``root/<image>`` (not)."""
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p.name))
    rows: list[tuple[str, str]] = []
    for folder in classes:
        images = sorted(p for p in folder.rglob("*") if _is_image(p))
        rows.extend((str(p.resolve()), folder.name) for p in images)
    if rows:
        return pd.DataFrame(rows, columns=[IMAGE_COLUMN, "label"]), "label"
    flat = sorted(p for p in root.iterdir() if _is_image(p))
    if flat:
        return pd.DataFrame({IMAGE_COLUMN: [str(p.resolve()) for p in flat]}), None
    raise DataError(
        f"No images found in {root}: expected class sub-folders (cat/1.png, dog/2.png...) or "
        f"image files ({', '.join(IMAGE_SUFFIXES)}), or pass labels= a table of "
        "filename,label."
    )


def images_root(images: str | os.PathLike[str], cache: Path, with_table: bool) -> Path:
    """The folder holding the images: ``images`` itself, or a zip extracted to ``cache``."""
    path = Path(images).expanduser()
    if not path.exists():
        raise DataError(
            f"The images folder {str(path)!r} does not exist (looked in "
            f"{path.resolve().parent}); expected a folder or a .zip of images."
        )
    if path.is_dir():
        return path.resolve()
    if path.suffix.lower() != ".zip":
        raise DataError(
            f"images= must be a folder or a .zip file, got the file {path.name!r}. To give "
            "a table of file names and labels, pass it as the table argument."
        )
    folder = extract_zip(path, cache)
    # a zip of one top folder ("train/...") holds the images inside that folder
    entries = [p for p in folder.iterdir() if not _hidden(p.name)]
    if len(entries) == 1 and entries[0].is_dir():
        inner = entries[0]
        if with_table or any(p.is_dir() for p in inner.iterdir()):
            return inner
    return folder


def extract_zip(path: Path, cache: Path) -> Path:
    """Extract ``path`` once into ``cache/<sha256>``; later calls reuse the folder."""
    target = cache / file_sha256(path)
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unzip-", dir=cache))
    try:
        try:
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    parts = PurePosixPath(member).parts
                    if member.startswith("/") or ".." in parts or "\\" in member:
                        raise DataError(
                            f"{path.name} holds an unsafe path {member!r} (absolute or with "
                            "'..'); it was not extracted. Re-create the zip from a folder."
                        )
                archive.extractall(staging)
        except zipfile.BadZipFile as exc:
            raise DataError(f"{path.name} is not a valid zip file ({exc}).") from None
        try:
            os.rename(staging, target)
        except OSError:  # another process extracted it first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def unreadable_images(paths: list[str]) -> list[tuple[str, str]]:
    """(path, reason) of the files that PIL cannot identify as images (headers only)."""
    from PIL import Image, UnidentifiedImageError

    bad = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.size  # noqa: B018 - reading the header is the check
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            bad.append((path, str(exc) or type(exc).__name__))
    return bad


def images_to_tensor(
    images: Any, input_shape: tuple[int, int, int], *, normalize: bool = True
) -> torch.Tensor:
    """A float32 batch ``(N, C, H, W)`` from image paths, PIL images or arrays, prepared as
    ``Dataset.image_loader`` prepares training images. Needs torch (imported here, on use)."""
    from lepton._optional import require

    require("torch", purpose="turn images into tensors")
    from lepton.data._loader import images_to_tensor as convert

    return convert(images, check_input_shape(input_shape), normalize=normalize)
