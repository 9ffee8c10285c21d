"""Where the local control plane runs: inside the local platform server (``lepton.server._dev``),
in the foreground with ``lepton dev`` or in the background, started on demand by
``lepton.deploy`` the way ``ray.init()`` starts a local cluster.

One control plane per LEPTON_HOME, enforced by a lock file; its pid and log live there too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from lepton.errors import LeptonError


class ControlPlaneError(LeptonError, RuntimeError):
    code = "control_plane"


def _paths(home: Path) -> tuple[Path, Path, Path]:
    return home / "controlplane.lock", home / "controlplane.pid", home / "controlplane.log"


def running_pid(home: Path) -> int | None:
    """The pid of the control plane of ``home``, if one holds its lock."""
    lock, pid_file, _ = _paths(home)
    if not lock.exists():
        return None
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return int(pid_file.read_text())
            except (OSError, ValueError):
                return -1
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


@contextlib.contextmanager
def hold_lock(home: Path) -> Iterator[TextIO]:
    home.mkdir(parents=True, exist_ok=True)
    lock, pid_file, _ = _paths(home)
    handle = open(lock, "a")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ControlPlaneError(
            f"A control plane is already running for {home} (pid {pid_file.read_text().strip() or '?'}). "
            "Stop it with `lepton dev --stop`, or use it: deployments are managed through it."
        ) from None
    pid_file.write_text(str(os.getpid()))
    try:
        yield handle
    finally:
        with contextlib.suppress(OSError):
            pid_file.unlink()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def ensure_running(timeout: float = 30.0) -> int:
    """Start the local platform server (API, dashboard, control plane) for the current home in
    the background unless one runs; return its pid."""
    from lepton.workspace import current_settings

    settings = current_settings()
    pid = running_pid(settings.home)
    if pid:
        return pid
    _, _, log = _paths(settings.home)
    settings.home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "LEPTON_HOME": str(settings.home),
        "LEPTON_DB_URL": settings.db_url,
        "LEPTON_ARTIFACTS": settings.artifacts_url,
        "LEPTON_PROJECT": settings.project,
    }
    with open(log, "ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "lepton.server._dev"],
            env=env,
            cwd=str(settings.project_root or Path.cwd()),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # lives on after this Python process exits
        )
    deadline = time.time() + timeout
    while time.time() < deadline:
        pid = running_pid(settings.home)
        if pid and pid > 0:
            return pid
        time.sleep(0.1)
    raise ControlPlaneError(f"The control plane did not start within {timeout:.0f} s; see {log}.")


def stop(timeout: float = 60.0) -> bool:
    """Stop the background control plane of the current home (and its replicas)."""
    from lepton.workspace import current_settings

    home = current_settings().home
    pid = running_pid(home)
    if not pid or pid < 0:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while time.time() < deadline and running_pid(home):
        time.sleep(0.1)
    return True
