"""The process of one job attempt: ``python -m lepton.jobs._runner JOB_ID``.

The scheduler starts it with the store's location in its environment (LEPTON_HOME,
LEPTON_DB_URL, LEPTON_ARTIFACTS, LEPTON_PROJECT) and the job's secrets as variables. It trains
the way ``lepton train`` does, tags the run with the job id, registers the model when the spec
says ``register: NAME``, and as its last act writes ``jobs/ID.result.json`` for the scheduler.
Everything it prints goes to the job's log.
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


def train(job_id: str) -> tuple[str, str | None]:
    """Train what the job's spec says; the run id and the registered model's ``name:version``."""
    from lepton.jobs._queue import JobQueue
    from lepton.jobs._spec import JobSpec
    from lepton.training._spec import run_spec
    from lepton.workspace import get_workspace

    workspace: Any = get_workspace()
    job = JobQueue(workspace.meta).get(job_id)
    spec = JobSpec(**job.spec)
    print(
        f"Job {job.name} ({job.id}), attempt {job.attempts}: training {spec.model} on "
        f"{spec.data} in project {job.project}",
        flush=True,
    )
    result = run_spec(spec.train_spec(), verbose=2, project=job.project)
    workspace.set_tags(result.run_id, {"lepton.job": job.id})
    shown = ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items())
    print(f"Run {result.run_id} finished: {shown}", flush=True)
    if not spec.register_as:
        return result.run_id, None
    from lepton.registry import register

    version = register(result, spec.register_as, tags={"lepton.job": job.id})
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
