"""Small shared helpers to show data objects as HTML (Jupyter) and rich tables (terminal)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

_BLOCKS = " ▁▂▃▄▅▆▇█"


def fmt(value: Any) -> str:
    """A short human form of a statistic: 4 significant digits, '-' for missing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.4g}"
    return str(value)


def sparkline(counts: Sequence[int]) -> str:
    """Counts as a row of block characters, for a histogram in a terminal."""
    top = max(counts, default=0)
    if top <= 0:
        return ""
    return "".join(_BLOCKS[max(1, round(c / top * 8)) if c else 0] for c in counts)


def html_bars(counts: Sequence[int], width: int = 60, height: int = 18) -> str:
    """Counts as a tiny inline bar chart (plain HTML, no script)."""
    top = max(counts, default=0)
    if top <= 0:
        return ""
    bar = max(1, width // max(1, len(counts)))
    cells = "".join(
        f'<span style="display:inline-block;width:{bar}px;height:{max(1, round(c / top * height))}px;'
        f'background:#4c78a8;margin-right:1px;vertical-align:bottom" title="{c}"></span>'
        for c in counts
    )
    return f'<span style="display:inline-block;height:{height}px">{cells}</span>'


def html_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], raw: Sequence[int] = ()
) -> str:
    """An HTML table; cells are escaped unless their column index is in ``raw``."""
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td style='text-align:left'>{v if i in raw else html.escape(fmt(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<div><b>{html.escape(title)}</b><table><tr>{head}</tr>{body}</table></div>"


def rich_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Any:
    """A rich Table (rich is imported here, when something is shown in a terminal)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(fmt(v) for v in row))
    return table


def plain_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A fixed-width text table, for summaries and logs."""
    cells = [list(columns), *[[fmt(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )
