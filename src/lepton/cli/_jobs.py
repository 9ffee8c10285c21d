"""``lepton jobs submit|list|status|logs|cancel|retry``: training jobs on the team server."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lepton.cli._output import console, duration, print_json, print_table, when

if TYPE_CHECKING:
    from lepton.jobs import JobInfo

app = typer.Typer(help="Training jobs queued on the team server.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
JobId = Annotated[str, typer.Argument(help="Job id (the first 8 characters are enough).")]


@app.command("submit")
def submit(
    spec: Annotated[
        Path, typer.Argument(help="YAML: the keys of `lepton train` plus the job's own.")
    ],
    name: Annotated[str | None, typer.Option(help="Job name (default: MODEL-DATA).")] = None,
    project: Annotated[
        str | None, typer.Option(help="The project (default: the current one).")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="local (the server's slots) or ray (a Ray job on the server's cluster)."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Queue a training job on the server; it starts when CPU/GPU slots are free."""
    from lepton.jobs import submit_job

    job = submit_job(spec, name=name, project=project, backend=backend)
    if json:
        print_json(job.to_dict())
        return
    console.print(f"Queued job [bold]{job.name}[/] ({job.id}) in project {job.project}")
    console.print(f"Follow it with: lepton jobs logs -f {job.id[:8]}", highlight=False)


@app.command("list")
def list_jobs(
    project: Annotated[str | None, typer.Option(help="Only jobs of this project.")] = None,
    status: Annotated[
        str | None, typer.Option(help="queued, running, succeeded, failed or cancelled.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many jobs, newest first.")] = 50,
    json: JsonFlag = False,
) -> None:
    """Jobs newest first, with their status, run and model."""
    from lepton.jobs import list_jobs as list_all

    jobs = list_all(project, status=status, limit=limit)
    if json:
        print_json([job.to_dict() for job in jobs])
        return
    print_table(
        "Jobs",
        ["id", "name", "project", "status", "tries", "submitted", "took", "run", "model"],
        [
            (
                j.id[:8],
                j.name,
                j.project,
                j.status,
                f"{j.attempts}/{j.max_retries + 1}",
                when(j.created_at),
                duration(j.duration),
                j.run_id[:8] if j.run_id else None,
                j.model_ref,
            )
            for j in jobs
        ],
        empty="No jobs yet. Queue one with: lepton jobs submit train.yaml",
    )


@app.command("status")
def status(job_id: JobId, json: JsonFlag = False) -> None:
    """Everything about one job: status, attempts, error, run and model."""
    from lepton.jobs import get_job

    job = get_job(job_id)
    if json:
        print_json(job.to_dict())
        return
    _describe(job)


@app.command("logs")
def logs(
    job_id: JobId,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")
    ] = False,
) -> None:
    """What the job printed, with the scheduler's notes on each attempt."""
    import sys

    from lepton.jobs import follow_job_logs, job_logs

    if not follow:
        offset = 0
        while True:  # the whole log, a chunk at a time
            chunk = job_logs(job_id, offset)
            sys.stdout.write(chunk.text)
            if chunk.next_offset == offset or (chunk.done or not chunk.text):
                break
            offset = chunk.next_offset
        return
    for text in follow_job_logs(job_id):
        sys.stdout.write(text)
        sys.stdout.flush()


@app.command("cancel")
def cancel(job_id: JobId) -> None:
    """Cancel a queued or running job (SIGTERM to its process, SIGKILL after a grace period)."""
    from lepton.jobs import cancel_job

    job = cancel_job(job_id)
    console.print(f"Job [bold]{job.name}[/] ({job.id[:8]}) is {job.status}.")


@app.command("retry")
def retry(job_id: JobId) -> None:
    """Queue a failed or cancelled job again, with its full number of retries."""
    from lepton.jobs import retry_job

    job = retry_job(job_id)
    console.print(f"Job [bold]{job.name}[/] ({job.id[:8]}) is {job.status} again.")


def _describe(job: JobInfo) -> None:
    rows = [
        ("id", job.id),
        ("name", job.name),
        ("project", job.project),
        ("status", job.status),
        ("attempts", f"{job.attempts} of {job.max_retries + 1}"),
        ("resources", f"{job.cpu} CPU, {job.gpu} GPU"),
        ("backend", job.spec.get("backend") or "local"),
        ("submitted", f"{when(job.created_at)} by {job.submitted_by}"),
        ("started", when(job.started_at)),
        ("ended", when(job.ended_at)),
        ("data", job.spec.get("data")),
        ("model", job.spec.get("model")),
        ("run", job.run_id or "-"),
        ("registered", job.model_ref or "-"),
        ("secrets", ", ".join(job.secrets) or "-"),
    ]
    for key, value in rows:
        console.print(f"[bold]{key:>10}[/]  {value}", highlight=False)
    if job.error:
        console.print(f"[bold red]{'error':>10}[/]  {job.error}", highlight=False)
