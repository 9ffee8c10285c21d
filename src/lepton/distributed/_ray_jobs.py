"""Jobs on a Ray cluster through the Ray Jobs API: submit, status, logs and stop.

The Jobs API is plain HTTP to the head node's dashboard (``ray start --head`` serves it on port
8265), so the team server talks to a cluster it never joins as a driver. Where the dashboard is:
``LEPTON_RAY_DASHBOARD``, else ``ray.dashboard`` in lepton.yaml, else port 8265 on the host of
``LEPTON_RAY_ADDRESS`` / ``ray.address``, else ``http://127.0.0.1:8265``.

This module knows Ray and nothing of Lepton's job queue: ``lepton.jobs`` decides what to run and
records what happened.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lepton.errors import BackendError, ConfigError

DEFAULT_DASHBOARD_PORT = 8265
GONE = object()  # what a read of a job the cluster does not know returns
AGENT_WAIT_S = 90.0  # how long a submission waits for a new head node's job agent

#: Ray job status -> the Lepton job status it means. PENDING is "running" for Lepton: the job
#: has left Lepton's queue and waits on the cluster (for resources or its runtime_env).
STATUSES = {
    "PENDING": "running",
    "RUNNING": "running",
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "STOPPED": "cancelled",
}


def lepton_status(ray_status: str) -> str:
    """The Lepton status of a Ray job status (``"RUNNING"`` -> ``"running"``)."""
    try:
        return STATUSES[str(ray_status)]
    except KeyError:
        raise BackendError(
            f"The Ray cluster reported job status {ray_status!r}; expected one of "
            f"{', '.join(STATUSES)}. Is the cluster's Ray version supported?"
        ) from None


def dashboard_url(url: str | None = None) -> str:
    """Where the Ray Jobs API is: ``url``, or the configured or derived dashboard address."""
    from lepton.distributed._ray_session import ray_settings

    chosen = url or setting("LEPTON_RAY_DASHBOARD", "dashboard")
    if not chosen:
        host = "127.0.0.1"
        address = str(ray_settings().get("address") or "")
        if address and address != "auto":
            host = address.removeprefix("ray://").rpartition(":")[0] or host
        chosen = f"http://{host}:{DEFAULT_DASHBOARD_PORT}"
    chosen = str(chosen).rstrip("/")
    parts = urlsplit(chosen)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"Ray dashboard address {chosen!r} is not a URL like http://HOST:8265; set "
            "LEPTON_RAY_DASHBOARD or ray.dashboard in lepton.yaml to the head node's dashboard."
        )
    return chosen


def setting(env: str, key: str, default: str | None = None) -> str | None:
    """A Ray jobs setting: the environment variable ``env``, else ``ray.KEY`` in lepton.yaml."""
    from lepton.distributed._ray_session import ray_settings

    value = os.environ.get(env) or ray_settings().get(key)
    return str(value) if value else default


@dataclass(frozen=True)
class RayJobInfo:
    """What Ray says of one submitted job."""

    submission_id: str
    status: str  # Ray's: PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED
    message: str | None = None

    @property
    def lepton_status(self) -> str:
        return lepton_status(self.status)

    @property
    def done(self) -> bool:
        return self.status in ("SUCCEEDED", "FAILED", "STOPPED")


class RayJobs:
    """The Jobs API of the Ray cluster whose dashboard is at ``url`` (default: the configured
    one); connects on first use.

    Raises:
        BackendError: no dashboard answers at the address, or it refused a request.
        MissingDependencyError: Ray is not installed (with the ``pip install`` that fixes it).
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = dashboard_url(url)
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            from lepton.distributed._ray_session import ray_module

            ray_module()  # the install hint and the version check
            # Ray would write a token under ~/.ray and demand it from every client otherwise
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            self._probe()
            from ray.job_submission import JobSubmissionClient

            try:
                self._client = JobSubmissionClient(self.url)
            except (ConnectionError, RuntimeError) as exc:
                raise self._unreachable(exc) from exc
        return self._client

    def submit(
        self,
        submission_id: str,
        entrypoint: str,
        *,
        working_dir: str | None = None,
        env_vars: dict[str, str] | None = None,
        cpus: float = 0,
        gpus: float = 0,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Submit ``entrypoint`` (a shell command) as job ``submission_id``; its id back.

        ``working_dir`` is uploaded to the cluster and becomes the job's current folder.
        ``env_vars`` are shown on the Ray dashboard: never put a secret there.
        """
        runtime_env: dict[str, Any] = {}
        if working_dir is not None:
            runtime_env["working_dir"] = working_dir
        if env_vars:
            runtime_env["env_vars"] = dict(env_vars)
        # a head node that has just started answers 500 "No available agent" until its job
        # agent is up (tens of seconds on a busy machine): wait for it rather than fail the job
        deadline = time.monotonic() + AGENT_WAIT_S
        while True:
            try:
                return str(
                    self._call(
                        "submit",
                        self.client().submit_job,
                        entrypoint=entrypoint,
                        submission_id=submission_id,
                        runtime_env=runtime_env,
                        metadata=metadata or {},
                        entrypoint_num_cpus=cpus or None,
                        entrypoint_num_gpus=gpus or None,
                    )
                )
            except BackendError as exc:
                if "No available agent" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def info(self, submission_id: str) -> RayJobInfo:
        """Ray's status of the job; FAILED when the cluster no longer knows it (a cluster that
        was restarted has forgotten its jobs, and they ended with it)."""
        details = self._call("read", self.client().get_job_info, submission_id, missing=GONE)
        if details is GONE:
            return RayJobInfo(
                submission_id,
                "FAILED",
                f"the Ray cluster at {self.url} has no "
                "such job any more (was the cluster restarted?)",
            )
        return RayJobInfo(submission_id, str(details.status), details.message)

    def logs(self, submission_id: str) -> str:
        """Everything the job has printed so far (stdout and stderr of its entrypoint)."""
        text = self._call("read the log of", self.client().get_job_logs, submission_id, missing="")
        return str(text)

    def stop(self, submission_id: str) -> bool:
        """Ask Ray to stop the job (SIGTERM, then SIGKILL); whether it was still running."""
        return bool(self._call("stop", self.client().stop_job, submission_id))

    # errors ------------------------------------------------------------------------------------
    def _call(self, what: str, method: Any, *args: Any, missing: Any = None, **kwargs: Any) -> Any:
        """``method(*args, **kwargs)``; ``missing`` (when given) if Ray has no such job."""
        try:
            return method(*args, **kwargs)
        except ConnectionError as exc:
            raise self._unreachable(exc) from exc
        except (RuntimeError, ValueError, TypeError) as exc:
            if missing is not None and "status code 404" in str(exc):
                return missing
            job = kwargs.get("submission_id") or (args[0] if args else "")
            raise BackendError(
                f"The Ray cluster at {self.url} could not {what} job {job}: {exc}"
            ) from exc

    def _probe(self) -> None:
        """Fail in two seconds instead of hanging on an address nothing answers."""
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname or "", port), timeout=2):
                pass
        except OSError as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: BaseException) -> BackendError:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        port = urlsplit(self.url).port or DEFAULT_DASHBOARD_PORT
        return BackendError(
            f"No Ray Jobs API answered at {self.url} ({reason}). Start the head node with its "
            f"dashboard: `ray start --head --dashboard-host=0.0.0.0 --dashboard-port={port}`, "
            "or point LEPTON_RAY_DASHBOARD (or ray.dashboard in lepton.yaml) at it, e.g. "
            f"http://HEAD:{DEFAULT_DASHBOARD_PORT}."
        )
