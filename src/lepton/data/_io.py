"""Reading tables from files, and the content hashes that version datasets.

A dataset's version is the sha256 of its content: of the file's bytes for a dataset read from
one file (so ``sha256sum data.csv`` prints the same digest), of a manifest of file digests for
datasets made of several files (images), and of the values for an in-memory DataFrame.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from lepton.errors import DataError

_CHUNK = 1 << 20
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
_COMPRESSION = (".gz", ".bz2", ".zip", ".xz", ".zst")


def table_format(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` from the file name, or a DataError naming the suffixes."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION:
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in CSV_SUFFIXES:
        return "csv"
    if last in PARQUET_SUFFIXES:
        return "parquet"
    raise DataError(
        f"Cannot tell the format of {path.name!r} from its suffix {last or '(none)'!r}: "
        f"expected one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)} (optionally compressed, "
        "e.g. .csv.gz). Rename the file, or read it with pandas and use Dataset.from_pandas."
    )


def check_file(path: str | os.PathLike[str], what: str = "data file") -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(
            f"The {what} {str(path)!r} does not exist (looked in {path.resolve().parent}). "
            "Check the path and the current directory."
        )
    if not path.is_file():
        raise DataError(f"The {what} {str(path)!r} is a folder; expected a file.")
    if path.stat().st_size == 0:
        raise DataError(
            f"The {what} {str(path)!r} is empty (0 bytes); expected a table with a header row "
            "and at least one data row. Check that the file was written completely."
        )
    return path.resolve()


def read_table(
    path: str | os.PathLike[str], fmt: str | None = None, **read_kwargs: Any
) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.tsv``) or Parquet file into a DataFrame with clear errors.

    ``fmt`` (``"csv"`` or ``"parquet"``) defaults to what the file name's suffix says.
    """
    path = check_file(path)
    fmt = fmt or table_format(path)
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path, **read_kwargs)
        else:
            if path.suffix.lower() == ".tsv" and "sep" not in read_kwargs:
                read_kwargs = {**read_kwargs, "sep": "\t"}
            frame = pd.read_csv(path, **read_kwargs)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{path.name!r} holds no columns (only blank lines); expected a header row and "
            "data rows."
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise DataError(
            f"Cannot read {path.name!r} as {fmt}: {exc}. Check that the file is a valid "
            f"{fmt} file (for a CSV with another separator pass sep=';')."
        ) from None
    check_not_empty(frame, repr(path.name))
    return frame


def check_not_empty(frame: pd.DataFrame, what: str) -> None:
    if frame.shape[1] == 0:
        raise DataError(f"{what} has no columns; expected at least one column.")
    if len(frame) == 0:
        raise DataError(
            f"{what} has a header ({', '.join(map(str, frame.columns[:10]))}) but no rows; "
            "expected at least one data row."
        )


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_sha256(entries: Iterable[tuple[str, str]]) -> str:
    """The digest of (relative name, sha256) pairs, as ``sha256sum`` would list them, sorted."""
    lines = "".join(f"{digest}  {name}\n" for name, digest in sorted(entries))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def frame_sha256(frame: pd.DataFrame) -> str:
    """A stable digest of a DataFrame's column names, dtypes and values (not its index)."""
    digest = hashlib.sha256()
    header = [[str(c), str(t)] for c, t in frame.dtypes.items()]
    digest.update(json.dumps(header).encode("utf-8"))
    if len(frame):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def json_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Reader keyword arguments that can be stored as JSON (to read a version back the same way)."""
    clean = {}
    for key, value in kwargs.items():
        try:
            json.dumps(value)
        except TypeError:
            raise DataError(
                f"Reader option {key}={value!r} cannot be stored with the dataset; pass "
                "strings, numbers, booleans or lists of them, or read the file with pandas "
                "yourself and use Dataset.from_pandas."
            ) from None
        clean[key] = value
    return clean
