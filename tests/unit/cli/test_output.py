"""The CLI's consoles follow the terminal's width when they print, whatever ``COLUMNS`` was when
``lepton.cli`` was imported (pytest-xdist workers start with COLUMNS=80, a terminal is resized)."""

from __future__ import annotations

import pytest

from lepton.cli._output import _Console, print_table

ROW = [["x" * 70, "y" * 70]]


def test_a_console_reads_columns_when_it_prints_not_when_it_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    made_at_80 = _Console()
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("LINES", "50")
    assert (made_at_80.width, made_at_80.height) == (200, 50)
    assert _Console(stderr=True).width == 200


@pytest.mark.parametrize("columns", [60, 200])
def test_tables_fit_the_width_set_after_import(
    columns: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    print_table("Wide", ["a", "b"], ROW, empty="nothing")
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= columns
    # 70 + 70 characters and the borders fit in 200 columns: no cell is folded
    assert (("x" * 70) in "\n".join(lines)) is (columns == 200)
