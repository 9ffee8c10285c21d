"""The process of one job attempt: ``python -m lepton.jobs._runner JOB_ID``.

The scheduler starts it with the store's location in its environment (LEPTON_HOME,
LEPTON_DB_URL, LEPTON_ARTIFACTS, LEPTON_PROJECT) and the job's secrets as variables. It trains
the way ``lepton train`` does, tags the run with the job id, registers the model when the spec
says ``register: NAME``, and as its last act writes ``jobs/ID.result.json`` for the scheduler.
Everything it prints goes to the job's log.

``python -m lepton.jobs._runner --ray`` is the entrypoint of a ``backend: ray`` job on a Ray
node: the job and its key come from ``lepton-job.json`` in its working folder, it trains into the
team server over HTTP, and its last line is the result (see ``lepton.jobs._on_ray``).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from lepton.jobs._files import AttemptResult, write_result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--ray"]:
        return main_on_ray()
    if len(args) != 1 or not os.environ.get("LEPTON_HOME"):
        print("usage: LEPTON_HOME=... python -m lepton.jobs._runner JOB_ID", file=sys.stderr)
        return 2
    job_id, home = args[0], Path(os.environ["LEPTON_HOME"])
    started = time.time()
    run_id: str | None = None
    model_ref: str | None = None
    try:
        run_id, model_ref = train(job_id)
    except Exception as exc:
        traceback.print_exc()
        run_id = _run_of_this_process(started)
        error = f"{type(exc).__name__}: {exc}"
        write_result(home, job_id, AttemptResult(False, run_id, model_ref, error))
        return 1
    write_result(home, job_id, AttemptResult(True, run_id, model_ref))
    return 0


def main_on_ray() -> int:
    """A ``backend: ray`` attempt, as the entrypoint of a Ray job: the job comes from the file
    the scheduler put in the working_dir, the workspace is the team server (over HTTP), and the
    result is the last line printed (the scheduler reads it from the Ray log)."""
    from lepton.jobs._on_ray import load_job_file, print_result

    started = time.time()
    model_ref: str | None = None
    try:
        job = load_job_file(Path.cwd())
        run_id, model_ref = train_job(
            job["id"], job["name"], job["project"], int(job["attempts"]), job["spec"]
        )
    except Exception as exc:
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
        print_result(AttemptResult(False, _run_of_this_process(started), model_ref, error))
        return 1
    print_result(AttemptResult(True, run_id, model_ref))
    return 0


def train(job_id: str) -> tuple[str, str | None]:
    """Train what the job's spec says; the run id and the registered model's ``name:version``."""
    from lepton.jobs._queue import JobQueue
    from lepton.workspace import get_workspace

    workspace: Any = get_workspace()
    job = JobQueue(workspace.meta).get(job_id)
    return train_job(job.id, job.name, job.project, job.attempts, job.spec)


def train_job(
    job_id: str, name: str, project: str, attempt: int, values: dict[str, Any]
) -> tuple[str, str | None]:
    """Train the spec ``values`` of job ``job_id`` into the current workspace."""
    from lepton.jobs._spec import JobSpec
    from lepton.training._spec import run_spec
    from lepton.workspace import get_workspace

    spec = JobSpec(**values)
    print(
        f"Job {name} ({job_id}), attempt {attempt}: training {spec.model} on "
        f"{spec.data} in project {project}",
        flush=True,
    )
    result = run_spec(spec.train_spec(), verbose=2, project=project)
    get_workspace().set_tags(result.run_id, {"lepton.job": job_id})
    shown = ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items())
    print(f"Run {result.run_id} finished: {shown}", flush=True)
    if not spec.register_as:
        return result.run_id, None
    from lepton.registry import register

    version = register(result, spec.register_as, tags={"lepton.job": job_id})
    print(f"Registered model {version.ref}", flush=True)
    return result.run_id, str(version.ref)


def _run_of_this_process(since: float) -> str | None:
    """The run this process started before it failed (training tags runs with their pid)."""
    try:
        from lepton.workspace import current_settings, get_workspace

        runs = get_workspace().list_runs(current_settings().project, limit=20)
    except Exception:  # the store itself may be what failed
        return None
    pid = str(os.getpid())
    for run in runs:
        if run.tags.get("lepton.pid") == pid and run.start_time >= since - 1:
            return str(run.id)
    return None


if __name__ == "__main__":
    sys.exit(main())
