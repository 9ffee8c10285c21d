"""Per-column statistics of a dataset: missing values, distinct counts, distributions.

Top values are not shown for columns that hold personal data (see ``_pii.py``): a profile is
stored with each dataset version and shown by ``lepton data profile``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lepton.data._pii import scan_column
from lepton.data._render import (
    html_bars,
    html_table,
    plain_table,
    rich_table,
    sparkline,
)
from lepton.data._schema import Schema

_TOP = 10
_BINS = 10


def _num(value: Any) -> float | None:
    """A JSON-safe float: None for NaN/inf/missing."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    """A JSON-safe scalar for a top value (numpy scalars unwrapped, others as strings)."""
    if hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, bool | int | float | str) else str(value)


@dataclass
class ColumnProfile:
    """Statistics of one column; which fields are set depends on its type."""

    name: str
    type: str
    count: int  # non-missing values
    missing: int
    unique: int
    stats: dict[str, Any] = field(default_factory=dict)  # mean, std, min, quantiles...
    top: list[tuple[Any, int]] | None = None  # most frequent values with counts
    histogram: dict[str, list[Any]] | None = None  # {"edges": [...], "counts": [...]}
    pii: list[str] = field(default_factory=list)  # kinds of personal data found

    @property
    def missing_fraction(self) -> float:
        total = self.count + self.missing
        return self.missing / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["top"] = [list(t) for t in self.top] if self.top is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        values = dict(data)
        if values.get("top") is not None:
            values["top"] = [tuple(t) for t in values["top"]]
        return cls(**values)

    def distribution(self) -> str:
        """A one-line summary of the distribution, for tables."""
        if self.histogram:
            return sparkline(self.histogram["counts"])
        if self.type == "text" and self.stats.get("mean_words") is not None:
            text = f"{self.stats['mean_words']:.1f} words, {self.stats['mean_length']:.0f} chars"
            return f"{text} on average" + (f" (holds {', '.join(self.pii)})" if self.pii else "")
        if self.pii:
            return f"(hidden: {', '.join(self.pii)})"
        if self.top:
            return ", ".join(f"{v} ({c})" for v, c in self.top[:3])
        return ""


def _numeric_stats(values: pd.Series) -> tuple[dict[str, Any], dict[str, list[Any]] | None]:
    numbers = pd.to_numeric(values, errors="coerce").dropna().astype("float64")
    finite = numbers[np.isfinite(numbers)]
    infinite = len(numbers) - len(finite)
    numbers = finite  # statistics of the finite values; infinities are counted apart
    if numbers.empty:
        return ({"infinite": infinite} if infinite else {}), None
    q = numbers.quantile([0.25, 0.5, 0.75])
    stats = {
        "mean": _num(numbers.mean()),
        "std": _num(numbers.std()),
        "min": _num(numbers.min()),
        "p25": _num(q[0.25]),
        "median": _num(q[0.5]),
        "p75": _num(q[0.75]),
        "max": _num(numbers.max()),
        "zeros": int((numbers == 0).sum()),
        "infinite": infinite,
    }
    bins = max(1, min(_BINS, int(numbers.nunique())))
    counts, edges = np.histogram(numbers.to_numpy(), bins=bins)
    histogram: dict[str, list[Any]] = {
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
    }
    return stats, histogram


def _top(values: pd.Series) -> list[tuple[Any, int]]:
    counts = values.value_counts().head(_TOP)
    return [(_plain(v), int(c)) for v, c in counts.items()]


def profile_column(name: str, kind: str, series: pd.Series) -> ColumnProfile:
    values = series.dropna()
    column = ColumnProfile(name, kind, len(values), int(series.isna().sum()), int(values.nunique()))
    if kind == "numeric":
        column.stats, column.histogram = _numeric_stats(values)
    elif kind == "datetime":
        stamps = pd.to_datetime(values, errors="coerce", format="ISO8601").dropna()
        if len(stamps):
            column.stats = {"min": str(stamps.min()), "max": str(stamps.max())}
    elif kind == "text":
        lengths = values.astype(str).str.len()
        words = values.astype(str).str.count(r"\S+")
        column.stats = {
            "mean_length": _num(lengths.mean()),
            "max_length": _num(lengths.max()),
            "mean_words": _num(words.mean()),
        }
        column.pii = [f.kind for f in scan_column(name, series)]
    elif kind in ("categorical", "boolean"):
        column.pii = [f.kind for f in scan_column(name, series)] if kind == "categorical" else []
        column.top = None if column.pii else _top(values)
    return column


class Profile(Mapping[str, ColumnProfile]):
    """A dataset's profile: rows, and a :class:`ColumnProfile` per column (by name)."""

    def __init__(
        self,
        dataset: str,
        rows: int,
        columns: list[ColumnProfile],
        target: str | None = None,
        task: str | None = None,
    ) -> None:
        self.dataset = dataset
        self.rows = rows
        self.columns = columns
        self.target = target
        self.task = task
        self._by_name = {c.name: c for c in columns}

    def __getitem__(self, name: str) -> ColumnProfile:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "target": self.target,
            "task": self.task,
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        columns = [ColumnProfile.from_dict(c) for c in data.get("columns", [])]
        return cls(data["dataset"], data["rows"], columns, data.get("target"), data.get("task"))

    _COLUMNS = ("column", "type", "missing", "unique", "mean", "std", "min", "max", "distribution")

    def _rows(self, as_html: bool = False) -> list[tuple[Any, ...]]:
        rows = []
        for c in self.columns:
            s = c.stats
            missing = f"{c.missing} ({c.missing_fraction:.0%})" if c.missing else "0"
            shape = c.distribution()
            if as_html and c.histogram:
                shape = html_bars(c.histogram["counts"])
            elif as_html:
                shape = html.escape(shape)
            rows.append(
                (
                    c.name + (" (target)" if c.name == self.target else ""),
                    c.type,
                    missing,
                    c.unique,
                    s.get("mean"),
                    s.get("std"),
                    s.get("min"),
                    s.get("max"),
                    shape,
                )
            )
        return rows

    def _title(self) -> str:
        return f"Profile of {self.dataset}: {self.rows} rows, {len(self.columns)} columns"

    def summary(self) -> str:
        """The profile as plain text: one line per column."""
        return self._title() + "\n" + plain_table(self._COLUMNS, self._rows())

    def __repr__(self) -> str:
        return f"Profile(dataset={self.dataset!r}, rows={self.rows}, columns={len(self.columns)})"

    def _repr_html_(self) -> str:
        return html_table(self._title(), self._COLUMNS, self._rows(as_html=True), raw=(8,))

    def __rich__(self) -> Any:
        return rich_table(self._title(), self._COLUMNS, self._rows())


def compute_profile(
    frame: pd.DataFrame,
    schema: Schema,
    dataset: str,
    target: str | None = None,
    task: str | None = None,
) -> Profile:
    columns = [profile_column(name, schema[name].type, frame[name]) for name in schema]
    return Profile(dataset, len(frame), columns, target, task)
