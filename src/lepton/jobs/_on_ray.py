"""The scheduler's side of ``backend: ray`` jobs: each attempt is a Ray job (Ray Jobs API) whose
entrypoint is ``python -m lepton.jobs._runner --ray``, reporting to this server over HTTP.

What travels where:
- ``runtime_env.env_vars`` (shown on the Ray dashboard): only names and switches, no secret.
- ``lepton-job.json`` in the uploaded ``working_dir``: the job's spec, the server's URL, an API
  key of the job's submitter made for this attempt alone, and the values of the job's
  ``secrets``. The runner reads it and deletes it before training. The key is revoked as soon
  as the attempt ends (and expires after :data:`KEY_LIFETIME` in any case).

The Ray log is copied into the job's log (``jobs/ID.log``) as it grows, so ``lepton jobs logs``,
the API and the dashboard read it like a local job's. ``jobs/ID.ray.json`` keeps what a
restarted server needs to pick the attempt up again (submission id, dashboard, key id, how much
of the log was copied).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lepton.errors import ConfigError
from lepton.jobs import _files
from lepton.jobs._files import AttemptResult
from lepton.jobs._records import JobInfo

RESULT_MARK = "LEPTON_JOB_RESULT "  # the runner's last line: the attempt's result as JSON
JOB_FILE = "lepton-job.json"
KEY_LIFETIME = 7 * 24 * 3600.0  # seconds: a bound on a key whose revocation was missed
LOOK_EVERY = 1.0  # seconds between looks at one Ray job (status and new log text)


def is_ray_job(job: JobInfo) -> bool:
    return job.spec.get("backend") == "ray"


def submission_id(job: JobInfo) -> str:
    """The Ray submission id of the job's current attempt (unique per start: a retried job's
    next attempt gets a new one, which Ray requires)."""
    return f"lepton-{job.id[:16]}-{job.attempts}-{int((job.started_at or 0) * 1000)}"


@dataclass
class RayAttempt:
    """One attempt of a job, running as a Ray job."""

    job_id: str
    submission_id: str
    dashboard: str
    key_id: str | None = None
    copied: int = 0  # characters of the Ray log already in the job's log
    stop_sent: bool = False
    last_look: float = 0.0  # monotonic

    def state(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("last_look")
        return values


class RayDispatcher:
    """Starts, watches, stops and settles the Ray jobs of one scheduler.

    Args:
        workspace: the server's workspace (its metadata store holds users and keys).
        home: the server's LEPTON_HOME (logs and state files under ``jobs/``).
        server_url: the URL Ray nodes reach this server at (default ``LEPTON_RAY_SERVER_URL``
            or ``ray.server_url`` in lepton.yaml).
    """

    def __init__(self, workspace: Any, home: Path, server_url: str | None = None) -> None:
        self.workspace = workspace
        self.home = Path(home)
        self.server_url = server_url
        self._apis: dict[str, Any] = {}

    def api(self, dashboard: str | None = None) -> Any:
        from lepton.distributed._ray_jobs import RayJobs, dashboard_url

        url = dashboard_url(dashboard)
        if url not in self._apis:
            self._apis[url] = RayJobs(url)
        return self._apis[url]

    # start -------------------------------------------------------------------------------------
    def launch(self, job: JobInfo, secrets: dict[str, str]) -> RayAttempt:
        """Submit the job's attempt to Ray (raises a LeptonError when it cannot be)."""
        from lepton.distributed._ray_jobs import setting

        server = self.server_url or setting("LEPTON_RAY_SERVER_URL", "server_url")
        if not server:
            raise ConfigError(
                "a Ray job reports to this server over HTTP, and the server does not know the "
                "URL Ray nodes reach it at. Set LEPTON_RAY_SERVER_URL (or ray.server_url in "
                "lepton.yaml) for the server, e.g. http://10.0.0.5:8400, and retry the job"
            )
        api = self.api()
        attempt = RayAttempt(job.id, submission_id(job), api.url)
        key, attempt.key_id = self._make_key(job)
        folder = _files.work_dir(self.home, job.id) / f"ray-{job.attempts}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        try:
            payload = {
                "job": {
                    "id": job.id,
                    "name": job.name,
                    "project": job.project,
                    "attempts": job.attempts,
                    "spec": job.spec,
                },
                "env": {**secrets, "LEPTON_URL": server.rstrip("/"), "LEPTON_TOKEN": key},
            }
            path = folder / JOB_FILE
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                json.dump(payload, out)
            python = setting("LEPTON_RAY_PYTHON", "python", "python")
            api.submit(
                attempt.submission_id,
                f"{python} -m lepton.jobs._runner --ray",
                working_dir=str(folder),
                env_vars={
                    "LEPTON_PROJECT": job.project,
                    "LEPTON_JOB_ID": job.id,
                    "PYTHONUNBUFFERED": "1",
                    # it trains in its entrypoint, on the resources the entrypoint holds; a
                    # backend inherited from the node would ask the cluster for more
                    "LEPTON_BACKEND": "local",
                },
                cpus=job.cpu,
                gpus=job.gpu,
                metadata={"lepton_job": job.id, "lepton_project": job.project},
            )
        except BaseException:
            self._revoke(job.id, attempt.key_id)
            raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # uploaded: the key leaves this disk
        self.save(attempt)
        _files.append_log(
            self.home,
            job.id,
            f"submitted to the Ray cluster at {api.url} as Ray job {attempt.submission_id}",
        )
        return attempt

    def _make_key(self, job: JobInfo) -> tuple[str, str]:
        from lepton.security import Security

        if not job.submitted_by:
            raise ConfigError(
                "a Ray job acts as the user who submitted it, and this job has no submitter; "
                "submit it through the team server (lepton jobs submit)"
            )
        info, key = Security(self.workspace.meta).create_key(
            job.submitted_by, f"job {job.id[:8]} on ray", expires_in=KEY_LIFETIME
        )
        return key, info.id

    # watch -------------------------------------------------------------------------------------
    def look(self, attempt: RayAttempt, force: bool = False) -> Any:
        """Ray's view of the attempt (a RayJobInfo), with new log text copied first; None when
        it was looked at less than :data:`LOOK_EVERY` ago."""
        now = time.monotonic()
        if not force and now - attempt.last_look < LOOK_EVERY:
            return None
        attempt.last_look = now
        api = self.api(attempt.dashboard)
        info = api.info(attempt.submission_id)
        self.copy_log(attempt)
        return info

    def copy_log(self, attempt: RayAttempt) -> str:
        """Append what the Ray job printed since the last copy to the job's log; the whole text."""
        text: str = self.api(attempt.dashboard).logs(attempt.submission_id)
        if len(text) > attempt.copied:
            path = _files.log_path(self.home, attempt.job_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as out:
                out.write(text[attempt.copied :].encode("utf-8", errors="replace"))
            attempt.copied = len(text)
            self.save(attempt)
        return text

    def result(self, attempt: RayAttempt) -> AttemptResult | None:
        """The result line the runner printed last, if it got that far."""
        text = self.copy_log(attempt)
        for line in reversed(text.splitlines()):
            if line.startswith(RESULT_MARK):
                try:
                    values = json.loads(line[len(RESULT_MARK) :])
                    return AttemptResult(
                        bool(values["ok"]),
                        values.get("run_id"),
                        values.get("model_ref"),
                        values.get("error"),
                    )
                except (ValueError, KeyError, TypeError):
                    return None
        return None

    def stop(self, attempt: RayAttempt) -> None:
        if not attempt.stop_sent:
            attempt.stop_sent = True
            _files.append_log(self.home, attempt.job_id, "cancelled: stopping its Ray job")
            self.api(attempt.dashboard).stop(attempt.submission_id)

    def release(self, attempt: RayAttempt) -> None:
        """The attempt has ended: its key is revoked and its state file removed."""
        self._revoke(attempt.job_id, attempt.key_id)
        state_path(self.home, attempt.job_id).unlink(missing_ok=True)

    def _revoke(self, job_id: str, key_id: str | None) -> None:
        if key_id is None:
            return
        from lepton.security import Security

        try:
            Security(self.workspace.meta).revoke_key(key_id)
        except Exception as exc:  # the key still expires; the log says it was not revoked
            _files.append_log(self.home, job_id, f"could not revoke the job's API key: {exc}")

    # restarts ------------------------------------------------------------------------------------
    def save(self, attempt: RayAttempt) -> None:
        path = state_path(self.home, attempt.job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(f".{os.getpid()}.tmp")
        staging.write_text(json.dumps(attempt.state()), encoding="utf-8")
        os.replace(staging, path)

    def adopt(self, job: JobInfo) -> RayAttempt | None:
        """The attempt a previous server process submitted, from its state file."""
        try:
            values = json.loads(state_path(self.home, job.id).read_text(encoding="utf-8"))
            attempt = RayAttempt(**values)
        except (OSError, ValueError, TypeError):
            return None
        return attempt if attempt.submission_id == submission_id(job) else None


def state_path(home: Path, job_id: str) -> Path:
    return _files.jobs_folder(home) / f"{job_id}.ray.json"


def ended_reason(info: Any) -> str:
    """Why a Ray job ended without a result of the runner's."""
    said = f": {info.message}" if getattr(info, "message", None) else ""
    if info.status == "STOPPED":
        return f"the Ray job {info.submission_id} was stopped on the cluster{said}"
    return f"the Ray job {info.submission_id} ended {info.status}{said}; see the job's log"


# the runner's side (on a Ray node) -------------------------------------------------------------
def load_job_file(folder: Path) -> dict[str, Any]:
    """The job file of a Ray attempt, read once and deleted; its ``env`` is applied."""
    path = folder / JOB_FILE
    try:
        payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path} cannot be read ({exc}); a Ray job of Lepton is started by the team server's "
            "scheduler, which puts it in the job's working_dir."
        ) from exc
    path.unlink(missing_ok=True)
    os.environ.update({str(k): str(v) for k, v in payload.get("env", {}).items()})
    os.environ["LEPTON_HOME"] = str((folder / ".lepton").resolve())
    # a login saved on the node must not replace the job's own key
    os.environ["LEPTON_CREDENTIALS"] = str((folder / ".lepton" / "no-credentials.json").resolve())
    return dict(payload["job"])


def print_result(result: AttemptResult) -> None:
    sys.stdout.flush()
    print(RESULT_MARK + json.dumps(asdict(result)), flush=True)
