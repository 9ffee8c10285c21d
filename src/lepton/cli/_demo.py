"""``lepton demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    folder: Annotated[Path, typer.Option(help="Folder of the demo project.")] = Path("lepton-demo"),
    once: Annotated[
        bool, typer.Option("--once", help="Run the steps and exit (leave nothing running).")
    ] = False,
) -> None:
    """Run Lepton's main job end to end on generated data."""
    from lepton.demo import run_demo

    run_demo(folder, once=once)
