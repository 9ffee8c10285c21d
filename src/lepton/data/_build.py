"""Building a Dataset: reading its table, checking its columns, inferring its task."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from lepton.data._images import IMAGE_COLUMN
from lepton.data._io import json_kwargs, read_table, table_format
from lepton.data._storage import Origin
from lepton.errors import DataError, InvalidParameterError

TableLike = str | os.PathLike[str] | pd.DataFrame
MAX_CLASSES = 20  # an integer target with at most this many values is a classification target


def default_name(path: str | os.PathLike[str]) -> str:
    """A dataset name from a file or folder name: ``"data/Loans 2024.csv"`` -> ``"Loans-2024"``."""
    stem = Path(path).name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("._-")[:100] or "data"


def cache_folder(kind: str) -> Path:
    """A cache folder under LEPTON_HOME (extracted zips, downloaded dataset versions)."""
    from lepton.workspace import current_settings

    return current_settings().home / "cache" / kind


def _no_column(kind: str, name: str, columns: Sequence[str], fix: str) -> DataError:
    close = difflib.get_close_matches(name, columns, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return DataError(
        f"{kind} column {name!r} is not in the data; its columns are "
        f"{', '.join(columns)}.{hint} {fix}"
    )


def infer_task(series: pd.Series, column_type: str) -> str:
    """``"classification"`` for categories, booleans, strings and integers (or whole floats)
    with at most 20 distinct values; ``"regression"`` for other numbers."""
    if column_type != "numeric":
        return "classification"
    values = series.dropna()
    integral = ptypes.is_integer_dtype(values.dtype) or (
        ptypes.is_float_dtype(values.dtype) and bool((values % 1 == 0).all())
    )
    return "classification" if integral and values.nunique() <= MAX_CLASSES else "regression"


def check_columns(
    frame: pd.DataFrame, kind: str, target: str | None, text_column: str | None
) -> dict[str, str]:
    """Check column names, the target and the text column; return the types the dataset kind
    forces on columns (the image column is "image", the text column "text")."""
    columns = [str(c) for c in frame.columns]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise DataError(
            f"Column name(s) {', '.join(map(repr, duplicated))} appear more than once; "
            "give every column its own name."
        )
    if target is not None and target not in columns:
        raise _no_column("Target", target, columns, "Pass target= one of them.")
    forced: dict[str, str] = {}
    if kind == "images":
        forced[IMAGE_COLUMN] = "image"
    if kind == "texts":
        if text_column not in columns:
            raise _no_column(
                "Text", str(text_column), columns, "Pass text_column= the column of texts."
            )
        if text_column == target:
            raise InvalidParameterError(
                f"text_column and target are both {target!r}; the target is what the model "
                "predicts from the text, so they must differ."
            )
        forced[str(text_column)] = "text"
    return forced


def read(
    table: TableLike, fmt: str | None = None, read_kwargs: dict[str, Any] | None = None
) -> tuple[pd.DataFrame, Origin]:
    """The table and where it came from: a DataFrame as is, or a CSV/Parquet file read."""
    if isinstance(table, pd.DataFrame):
        return table, Origin()
    if not isinstance(table, str | os.PathLike):
        raise InvalidParameterError(
            f"table must be a CSV/Parquet path or a pandas DataFrame, got {type(table).__name__}."
        )
    kwargs = json_kwargs(read_kwargs or {})
    path = Path(table).expanduser()
    fmt = fmt or (table_format(path) if path.is_file() else None)
    frame = read_table(path, fmt=fmt, **kwargs)
    return frame, Origin(source=path.resolve(), fmt=fmt, read_kwargs=kwargs)
