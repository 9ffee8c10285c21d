"""How commands print: rich tables for people, ``--json`` for machines, errors as one paragraph."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table


class _Console(Console):
    """A rich console that takes its size from the terminal (or ``COLUMNS``/``LINES``) each
    time it prints.

    ``Console()`` reads ``COLUMNS`` and ``LINES`` once and keeps them; these consoles are made
    when ``lepton.cli`` is imported, so a width set later (a resized terminal in a long-lived
    process, a test runner's ``COLUMNS``) would be ignored. With no size of its own rich asks
    the terminal, then ``COLUMNS``, on every print.
    """

    def __init__(self, *, stderr: bool = False) -> None:
        super().__init__(stderr=stderr)
        self._width = None  # rich's own fields: None means "ask when printing"
        self._height = None


console: Console = _Console()
err_console: Console = _Console(stderr=True)


def print_error(error: BaseException | str) -> None:
    message = str(error)
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"


def print_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], empty: str
) -> None:
    """A table, or the ``empty`` hint (the command that fills it) when there are no rows."""
    if not rows:
        console.print(empty)
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row))
    console.print(table)
