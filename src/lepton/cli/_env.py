"""``lepton env`` (paste-able diagnostics) and ``lepton doctor`` (a quick self-test)."""

from __future__ import annotations

from typing import Annotated

import typer

from lepton.cli._output import console, print_json


def env(json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Versions, devices and settings, to paste into a bug report. Secrets are hidden."""
    from lepton.diagnostics import environment_report

    report = environment_report()
    if json:
        print_json(report)
        return
    for section, values in report.items():
        console.print(f"[bold]{section}[/]")
        for key, value in values.items():
            console.print(f"  {key}: {value}", highlight=False)


def doctor() -> None:
    """Run a quick self-test of the store, tracking and optional packages."""
    from lepton.diagnostics import self_test

    failed = 0
    for check in self_test():
        mark = "[green]ok[/]  " if check.ok else "[red]FAIL[/]"
        console.print(f"{mark} {check.name}: {check.detail}", highlight=False)
        failed += not check.ok
    if failed:
        console.print(f"[red]{failed} check(s) failed.[/]")
        raise typer.Exit(1)
    console.print("[green]All checks passed.[/]")
