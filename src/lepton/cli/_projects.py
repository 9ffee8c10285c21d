"""``lepton init project NAME`` and ``lepton projects list``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lepton.cli._output import console, print_json, print_table, when

init_app = typer.Typer(help="Create things: a project folder.", no_args_is_help=True)
projects_app = typer.Typer(help="List projects.", no_args_is_help=True)


@init_app.command("project")
def init_project(
    name: Annotated[str, typer.Argument(help="Project name (letters, digits, '.', '_', '-').")],
    path: Annotated[Path | None, typer.Option(help="Folder to create (default ./NAME).")] = None,
    description: Annotated[str, typer.Option(help="One line about the project.")] = "",
) -> None:
    """Create a project folder with lepton.yaml, data/, notebooks/ and a runnable train.py."""
    import lepton

    project = lepton.create_project(name, path, description)
    console.print(f"Created project [bold]{project.name}[/] in {project.path}")
    console.print(f"Next: cd {project.path} && python train.py && lepton runs list")


@projects_app.command("list")
def list_projects(
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Projects in the current workspace."""
    from lepton.workspace import get_workspace

    infos = get_workspace().list_projects()
    if json:
        print_json([info.to_dict() for info in infos])
        return
    print_table(
        "Projects",
        ["name", "path", "created", "description"],
        [(i.name, i.path, when(i.created_at), i.description) for i in infos],
        empty="No projects yet. Create one with: lepton init project NAME",
    )
