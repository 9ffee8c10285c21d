"""``lepton runs list|show``."""

from __future__ import annotations

from typing import Annotated

import typer

from lepton.cli._output import console, duration, print_json, print_table, when

app = typer.Typer(help="Tracked runs: params, metrics, artifacts, lineage.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _metrics_preview(metrics: dict[str, float], limit: int = 3) -> str:
    shown = [f"{k}={v:.4g}" for k, v in list(metrics.items())[:limit]]
    return " ".join(shown) + (" ..." if len(metrics) > limit else "")


@app.command("list")
def list_runs(
    project: Annotated[str | None, typer.Option(help="Only runs of this project.")] = None,
    status: Annotated[str | None, typer.Option(help="running, finished, failed or killed.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many runs, newest first.")] = 50,
    json: JsonFlag = False,
) -> None:
    """The newest runs, with status and latest metrics."""
    from lepton.workspace import get_workspace

    runs = get_workspace().list_runs(project, status=status, limit=limit)
    if json:
        print_json([run.to_dict() for run in runs])
        return
    print_table(
        "Runs",
        ["id", "name", "project", "status", "started", "took", "metrics"],
        [
            (
                r.id[:8],
                r.name,
                r.project,
                r.status,
                when(r.start_time),
                duration(r.duration),
                _metrics_preview(r.metrics),
            )
            for r in runs
        ],
        empty="No runs yet. Start one in Python with lepton.start_run(), or run: lepton demo",
    )


@app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="Run id (the first 8 characters are enough).")],
    json: JsonFlag = False,
) -> None:
    """Everything recorded about one run."""
    from lepton.workspace import get_workspace

    workspace = get_workspace()
    run = workspace.get_run(run_id)
    artifacts = workspace.list_artifacts(run.id)
    if json:
        print_json({**run.to_dict(), "artifacts": [a.to_dict() for a in artifacts]})
        return
    console.print(f"[bold]Run {run.name}[/]  id {run.id}  project {run.project}")
    console.print(
        f"status {run.status}, started {when(run.start_time)}, took {duration(run.duration)}"
    )
    if run.error:
        console.print(f"[red]error:[/] {run.error}", highlight=False)
    for title, values in (
        ("Params", run.params),
        ("Metrics (latest)", run.metrics),
        ("Tags", run.tags),
    ):
        if values:
            print_table(title, ["key", "value"], sorted(values.items()), empty="")
    if artifacts:
        print_table(
            "Artifacts",
            ["path", "size", "sha256"],
            [(a.path, a.size, a.sha256[:12]) for a in artifacts],
            empty="",
        )
    if run.inputs:
        print_table(
            "Inputs",
            ["kind", "name", "version"],
            [(i["kind"], i["name"], i["version"]) for i in run.inputs],
            empty="",
        )
    lineage = run.lineage
    if lineage.get("git_sha"):
        console.print(f"git {lineage['git_sha']}")
