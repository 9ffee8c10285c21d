"""What each column holds: numeric, categorical, boolean, datetime, text or image path.

Types are inferred from the values and can be overridden per column:

    Dataset.from_csv("loans.csv", target="default", schema={"zip_code": "categorical"})
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from lepton.data._render import html_table, plain_table, rich_table
from lepton.errors import DataError, InvalidParameterError

COLUMN_TYPES = ("numeric", "categorical", "boolean", "datetime", "text", "image")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False}
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)
_SAMPLE = 5000  # values looked at to infer the type of a text column


@dataclass(frozen=True)
class ColumnInfo:
    """One column: its name, Lepton type, pandas dtype, and whether the type was inferred."""

    name: str
    type: str
    dtype: str
    inferred: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnInfo:
        return cls(str(data["name"]), str(data["type"]), str(data["dtype"]), bool(data["inferred"]))


class Schema(Mapping[str, ColumnInfo]):
    """Column name -> :class:`ColumnInfo`, in the table's column order."""

    def __init__(self, columns: list[ColumnInfo]) -> None:
        self._columns = {c.name: c for c in columns}

    def __getitem__(self, name: str) -> ColumnInfo:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(
                f"No column {name!r} in the schema; columns: {', '.join(self._columns)}."
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    @property
    def types(self) -> dict[str, str]:
        """Column name -> type, e.g. ``{"age": "numeric", "city": "categorical"}``."""
        return {name: c.type for name, c in self._columns.items()}

    def columns_of(self, *types: str) -> list[str]:
        """The names of the columns of the given types, in column order."""
        return [name for name, c in self._columns.items() if c.type in types]

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self._columns.values()]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        return cls([ColumnInfo.from_dict(c) for c in data["columns"]])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and list(self._columns.values()) == list(
            other._columns.values()
        )

    __hash__ = None  # type: ignore[assignment]

    def _rows(self) -> list[tuple[str, str, str, str]]:
        return [
            (c.name, c.type, c.dtype, "inferred" if c.inferred else "set")
            for c in self._columns.values()
        ]

    def __repr__(self) -> str:
        inner = ", ".join(f"{name!r}: {c.type!r}" for name, c in self._columns.items())
        return f"Schema({{{inner}}})"

    def __str__(self) -> str:
        return plain_table(["column", "type", "dtype", "source"], self._rows())

    def _repr_html_(self) -> str:
        return html_table("Schema", ["column", "type", "dtype", "source"], self._rows())

    def __rich__(self) -> Any:
        return rich_table("Schema", ["column", "type", "dtype", "source"], self._rows())


def _strings(series: pd.Series) -> pd.Series:
    values = series.dropna()
    if len(values) > _SAMPLE:
        values = values.sample(_SAMPLE, random_state=0)
    return values.astype(str).str.strip()


def infer_type(series: pd.Series) -> str:
    """The Lepton type of one column, from its dtype and (for strings) its values."""
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    if ptypes.is_numeric_dtype(dtype):
        return "numeric"
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    values = series.dropna()
    if values.empty:
        return "categorical"
    if all(isinstance(v, bool) for v in values.head(_SAMPLE)):
        return "boolean"
    strings = _strings(series)
    lower = strings.str.lower()
    if lower.isin(list(BOOL_WORDS)).all():
        return "boolean"
    if strings.str.match(_ISO_DATE).mean() >= 0.95:
        return "datetime"
    if lower.str.endswith(IMAGE_SUFFIXES).mean() >= 0.95:
        return "image"
    words = strings.str.count(r"\S+")
    unique_ratio = strings.nunique() / len(strings)
    if (words.mean() >= 3 or strings.str.len().mean() >= 50) and unique_ratio >= 0.3:
        return "text"
    return "categorical"


def _override_type(name: str, value: object) -> str:
    kind = value.type if isinstance(value, ColumnInfo) else value
    if kind not in COLUMN_TYPES:
        raise InvalidParameterError(
            f"Unknown type {kind!r} for column {name!r} in schema=; expected one of "
            f"{', '.join(COLUMN_TYPES)} (for example schema={{{name!r}: 'categorical'}})."
        )
    return str(kind)


def infer_schema(
    frame: pd.DataFrame,
    overrides: Mapping[str, Any] | None = None,
    *,
    forced: Mapping[str, str] | None = None,
) -> Schema:
    """Infer every column's type; ``overrides`` (from the user) and ``forced`` (by the dataset
    kind, e.g. the image column) win over inference.

    Raises:
        DataError: an override names a column the table does not have.
        InvalidParameterError: an override names an unknown type.
    """
    overrides = dict(overrides or {})
    missing = [name for name in overrides if name not in frame.columns]
    if missing:
        raise DataError(
            f"schema= names column(s) {', '.join(map(repr, missing))} that the table does not "
            f"have; its columns are: {', '.join(map(str, frame.columns))}."
        )
    columns = []
    for name in frame.columns:
        series = frame[name]
        if name in overrides:
            kind, inferred = _override_type(str(name), overrides[name]), False
        elif forced and name in forced:
            kind, inferred = forced[name], True
        else:
            kind, inferred = infer_type(series), True
        columns.append(ColumnInfo(str(name), kind, str(series.dtype), inferred))
    return Schema(columns)
