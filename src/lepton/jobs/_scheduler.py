"""The job scheduler of the team server: runs queued jobs as child processes, as many at once as
their CPU and GPU slots allow, retries failed attempts, stops cancelled jobs, and picks up what
a previous server process left running. A ``backend: ray`` job runs as a Ray job instead
(``lepton.jobs._on_ray``): same statuses, retries, log and cancel, on the cluster's resources.

Its state is the ``jobs`` table: a job is never only in memory, so a restarted server re-queues
(or adopts, when its process still runs) everything the last one had started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lepton.errors import InvalidParameterError, LeptonError
from lepton.jobs import _files
from lepton.jobs._on_ray import RayAttempt, RayDispatcher, ended_reason, is_ray_job
from lepton.jobs._queue import JobQueue
from lepton.jobs._records import JobInfo
from lepton.jobs._slots import plan, too_big_message

log = logging.getLogger("lepton.jobs")

SERVER_STOPPED = "the server stopped while the job ran"
# a job talks to the store directly, never back to the server with the server's credentials
_NOT_INHERITED = ("LEPTON_TOKEN",)

Command = Callable[[JobInfo], list[str]]


def runner_command(job: JobInfo) -> list[str]:
    """The job's process: ``python -m lepton.jobs._runner JOB_ID``."""
    return [sys.executable, "-m", "lepton.jobs._runner", job.id]


@dataclass
class Child:
    """A job's running process: started by this scheduler, or adopted from a previous one."""

    job_id: str
    pid: int
    cpu: int
    gpu: int
    gpus: tuple[int, ...] = ()
    process: subprocess.Popen[bytes] | None = None  # None: adopted (not our child)
    stop_deadline: float | None = None  # when SIGTERM was sent: SIGKILL after this
    returncode: int | None = None
    ended: bool = False
    killed: bool = False

    def poll(self) -> bool:
        """Whether the process has ended (its exit code is known only for our own children)."""
        if not self.ended:
            if self.process is not None:
                self.returncode = self.process.poll()
                self.ended = self.returncode is not None
            else:
                self.ended = not is_runner(self.pid, self.job_id)
        return self.ended

    def terminate(self, grace: float) -> None:
        """SIGTERM to its whole process group (data loader workers too); SIGKILL after grace."""
        if self.stop_deadline is None:
            self.stop_deadline = time.monotonic() + grace
            _signal_group(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        self.killed = True
        _signal_group(self.pid, signal.SIGKILL)


class Scheduler:
    """Runs the server's queued jobs. ``run()`` is a task of the server's event loop.

    Args:
        workspace: the server's LocalWorkspace (its store is what jobs read and write).
        home: the server's LEPTON_HOME; logs go to ``home/jobs/ID.log``.
        cpu_slots, gpu_slots: how many slots jobs may hold at once (a job asks for
            ``resources: {cpu: 1, gpu: 0}`` by default).
        command: the job's process (default ``python -m lepton.jobs._runner ID``).
        grace: seconds between SIGTERM and SIGKILL when a job is cancelled or the server stops.
        interval: seconds between looks at the queue (a submit wakes the scheduler at once).
        server_url: the URL Ray nodes reach this server at, for ``backend: ray`` jobs (default
            ``LEPTON_RAY_SERVER_URL`` or ``ray.server_url`` in lepton.yaml). Such jobs hold no
            slots of the server: they run as Ray jobs, and the cluster queues what it cannot
            place yet.
    """

    def __init__(
        self,
        workspace: Any,
        home: str | os.PathLike[str],
        cpu_slots: int = 2,
        gpu_slots: int = 0,
        *,
        command: Command = runner_command,
        grace: float = 10.0,
        interval: float = 0.5,
        server_url: str | None = None,
    ) -> None:
        if cpu_slots < 1 or gpu_slots < 0:
            raise InvalidParameterError(
                f"The scheduler needs cpu_slots >= 1 and gpu_slots >= 0, got {cpu_slots} and "
                f"{gpu_slots}."
            )
        self.workspace = workspace
        self.home = Path(home)
        self.cpu_slots = cpu_slots
        self.gpu_slots = gpu_slots
        self.command = command
        self.grace = grace
        self.interval = interval
        self.queue = JobQueue(workspace.meta)
        self.children: dict[str, Child] = {}
        self.ray = RayDispatcher(workspace, self.home, server_url)
        self.ray_attempts: dict[str, RayAttempt] = {}  # backend: ray jobs, by job id
        self._free_gpus = list(range(gpu_slots))
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    # lifecycle -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Recover, then start and watch jobs until ``stop()``; running jobs then go back to
        the queue (their attempt not counted)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            await self._guarded(self.recover)
            while not self._stopping:
                await self._guarded(self.tick)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval)
                self._wake.clear()
        finally:
            await asyncio.to_thread(self.shutdown)

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    def wake(self) -> None:
        """Look at the queue now (safe from any thread: the API calls it after a submit)."""
        loop, event = self._loop, self._wake
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(event.set)

    async def _guarded(self, step: Callable[[], None]) -> None:
        # the store is synchronous: keep it off the event loop that serves the API
        try:
            await asyncio.to_thread(step)
        except Exception:  # a store hiccup must not end the scheduler; the next tick retries
            log.exception("the job scheduler failed in %s", step.__name__)

    # one look at the queue -------------------------------------------------------------------
    def tick(self) -> None:
        """Settle ended processes, stop cancelled ones, start what fits."""
        for child in list(self.children.values()):
            if child.poll():  # settled first: if the store fails, the next tick tries again
                self._settle(child.job_id, child.returncode, adopted=child.process is None)
                self._release(child)
        self._watch_ray()
        self._stop_cancelled()
        if not self._stopping:
            self._start_queued()

    def _start_queued(self) -> None:
        held_cpu = sum(c.cpu for c in self.children.values())
        held_gpu = sum(c.gpu for c in self.children.values())
        # a job retried while its cancelled process still winds down waits for that process
        queued = [
            j
            for j in self.queue.with_status("queued")
            if j.id not in self.children and j.id not in self.ray_attempts
        ]
        for job in [j for j in queued if is_ray_job(j)]:  # the cluster has its own queue
            claimed = self.queue.claim(job.id)
            if claimed is not None:
                self._launch_on_ray(claimed)
        queued = [j for j in queued if not is_ray_job(j)]
        decided = plan(
            queued,
            self.cpu_slots - held_cpu,
            self.gpu_slots - held_gpu,
            self.cpu_slots,
            self.gpu_slots,
        )
        for job in decided.impossible:
            if self.queue.claim(job.id) is not None:
                message = too_big_message(job, self.cpu_slots, self.gpu_slots)
                _files.append_log(self.home, job.id, f"not started: {message}")
                self.queue.finish(job.id, "failed", error=message[0].upper() + message[1:] + ".")
        for job in decided.start:
            claimed = self.queue.claim(job.id)
            if claimed is not None:  # else cancelled in the meantime
                self._launch(claimed)

    def _launch(self, job: JobInfo) -> None:
        gpus = tuple(self._free_gpus[: job.gpu])
        self._free_gpus = self._free_gpus[job.gpu :]
        _files.clear_result(self.home, job.id)
        _files.append_log(
            self.home,
            job.id,
            f"attempt {job.attempts} of {job.max_retries + 1} starting "
            f"({job.cpu} CPU, {job.gpu} GPU slots{f', GPUs {gpus}' if gpus else ''})",
        )
        try:
            env = self._environment(job, gpus)
            folder = _files.work_dir(self.home, job.id)
            folder.mkdir(parents=True, exist_ok=True)
            with open(_files.log_path(self.home, job.id), "ab") as out:
                process = subprocess.Popen(
                    self.command(job),
                    env=env,
                    cwd=folder,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group: a cancel stops all of it
                )
        except (LeptonError, OSError) as exc:
            self._free_gpus.extend(gpus)
            self._attempt_failed(job, f"the job could not start: {exc}")
            return
        self.children[job.id] = Child(job.id, process.pid, job.cpu, job.gpu, gpus, process)
        self.queue.set_pid(job.id, process.pid)

    def _launch_on_ray(self, job: JobInfo) -> None:
        _files.append_log(
            self.home,
            job.id,
            f"attempt {job.attempts} of {job.max_retries + 1} starting on Ray "
            f"({job.cpu} CPU, {job.gpu} GPU for its entrypoint)",
        )
        try:
            secrets = job_secrets(self.workspace, job.project, job.secrets)
            self.ray_attempts[job.id] = self.ray.launch(job, secrets)
        except LeptonError as exc:
            self._attempt_failed(job, f"the job could not start: {exc}")

    def _watch_ray(self) -> None:
        """Copy new log text of each Ray job and settle the ones that ended."""
        for attempt in list(self.ray_attempts.values()):
            try:
                info = self.ray.look(attempt)
            except LeptonError as exc:  # the cluster may come back: keep watching
                log.warning("could not look at Ray job %s: %s", attempt.submission_id, exc)
                continue
            if info is not None and info.done:
                self._settle_ray(attempt, info)

    def _settle_ray(self, attempt: RayAttempt, info: Any) -> None:
        job = self.queue.get(attempt.job_id)
        result = self.ray.result(attempt)
        run_id = result.run_id if result else None
        if job.status != "running":  # cancelled while it ran: the cancel stands
            self.queue.link(job.id, run_id, result.model_ref if result else None)
            _files.append_log(
                self.home, job.id, f"the cancelled attempt's Ray job has ended ({info.status})"
            )
        elif info.status == "SUCCEEDED" and result is not None and result.ok:
            _files.append_log(self.home, job.id, f"attempt {job.attempts} succeeded")
            self.queue.finish(job.id, "succeeded", None, run_id, result.model_ref)
        else:
            error = result.error if result is not None and result.error else ended_reason(info)
            self._attempt_failed(job, error, run_id)
        self.ray_attempts.pop(job.id, None)
        self.ray.release(attempt)

    def _environment(self, job: JobInfo, gpus: tuple[int, ...]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
        env.update(job_secrets(self.workspace, job.project, job.secrets))
        env.update(
            LEPTON_HOME=str(self.home),
            LEPTON_DB_URL=self.workspace.meta.url,
            LEPTON_ARTIFACTS=artifacts_url(self.workspace),
            LEPTON_PROJECT=job.project,
            LEPTON_URL="",  # set but empty: the embedded store, whatever `lepton login` saved
            LEPTON_JOB_ID=job.id,
            PYTHONUNBUFFERED="1",  # the log shows progress as it happens
            # only the GPUs the job holds; none for a CPU job
            CUDA_VISIBLE_DEVICES=",".join(map(str, gpus)),
        )
        # the master key variables (LEPTON_MASTER_KEY / _FILE) are inherited as they are
        return env

    def _release(self, child: Child) -> None:
        self.children.pop(child.job_id, None)
        self._free_gpus.extend(child.gpus)
        self._free_gpus.sort()

    # endings -------------------------------------------------------------------------------
    def _settle(self, job_id: str, returncode: int | None, adopted: bool = False) -> None:
        """Record how an attempt ended: success, a retry, a failure, or a cancel that landed."""
        job = self.queue.get(job_id)
        result = _files.read_result(self.home, job_id)
        run_id = result.run_id if result else None
        if job.status != "running":  # cancelled while it ran: the cancel stands
            self.queue.link(job_id, run_id, result.model_ref if result else None)
            _files.append_log(self.home, job_id, "the cancelled attempt's process has ended")
            return
        if result is not None and result.ok and (returncode == 0 or adopted):
            _files.append_log(self.home, job_id, f"attempt {job.attempts} succeeded")
            self.queue.finish(job_id, "succeeded", None, run_id, result.model_ref)
            return
        error = result.error if result is not None and result.error else exit_reason(returncode)
        self._attempt_failed(job, error, run_id)

    def _attempt_failed(self, job: JobInfo, error: str, run_id: str | None = None) -> None:
        if job.attempts <= job.max_retries:
            retry = job.attempts
            _files.append_log(
                self.home,
                job.id,
                f"attempt {job.attempts} failed: {error}. Retrying "
                f"(retry {retry} of {job.max_retries}).",
            )
            self.queue.requeue(job.id, error, run_id=run_id)
        else:
            tries = f"{job.attempts} attempts" if job.attempts != 1 else "1 attempt"
            _files.append_log(self.home, job.id, f"failed after {tries}: {error}")
            self.queue.finish(job.id, "failed", error, run_id)

    def _stop_cancelled(self) -> None:
        if not self.children and not self.ray_attempts:
            return
        statuses = self.queue.statuses([*self.children, *self.ray_attempts])
        for attempt in self.ray_attempts.values():
            if statuses.get(attempt.job_id) != "running" and not attempt.stop_sent:
                try:
                    self.ray.stop(attempt)
                except LeptonError as exc:
                    attempt.stop_sent = False  # the next tick asks again
                    log.warning("could not stop Ray job %s: %s", attempt.submission_id, exc)
        now = time.monotonic()
        for child in self.children.values():
            if statuses.get(child.job_id) == "running":
                continue
            if child.stop_deadline is None:
                _files.append_log(self.home, child.job_id, "cancelled: stopping its process")
                child.terminate(self.grace)
            elif now >= child.stop_deadline and not child.killed:
                _files.append_log(
                    self.home,
                    child.job_id,
                    f"the process did not stop within {self.grace:g} s of SIGTERM: SIGKILL",
                )
                child.kill()

    # restarts --------------------------------------------------------------------------------
    def recover(self) -> None:
        """Pick up the jobs a previous server process left ``running``.

        A job whose process still runs is adopted and watched; one whose process is gone ends
        as its result file says, else counts as a failed attempt: re-queued when it has retries
        left, otherwise failed with the reason that the server stopped while it ran.
        """
        for job in self.queue.with_status("running"):
            if job.id in self.children or job.id in self.ray_attempts:
                continue
            try:
                self._recover(job)
            except Exception:  # one job's trouble must not leave the others unrecovered
                log.exception("could not recover job %s", job.id)

    def _recover(self, job: JobInfo) -> None:
        if is_ray_job(job):  # it ran on the cluster all along: watch it again
            attempt = self.ray.adopt(job)
            if attempt is None:
                self._attempt_failed(job, SERVER_STOPPED)
                return
            self.ray_attempts[job.id] = attempt
            _files.append_log(
                self.home, job.id, f"Ray job {attempt.submission_id} adopted by a new server"
            )
        elif job.pid is not None and is_runner(job.pid, job.id):
            gpus = tuple(self._free_gpus[: job.gpu])
            self._free_gpus = self._free_gpus[job.gpu :]
            self.children[job.id] = Child(job.id, job.pid, job.cpu, job.gpu, gpus)
            _files.append_log(self.home, job.id, f"adopted by a new server (pid {job.pid})")
        elif _files.read_result(self.home, job.id) is not None:
            self._settle(job.id, None, adopted=True)  # it ended while no server watched
        else:
            self._attempt_failed(job, SERVER_STOPPED)

    def shutdown(self) -> None:
        """Stop every running job and put it back in the queue, its attempt not counted.

        Ray jobs go on running on the cluster; the next server adopts them (``recover``).
        """
        self.ray_attempts.clear()
        if not self.children:
            return
        for child in self.children.values():
            child.terminate(self.grace)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and not all(c.poll() for c in self.children.values()):
            time.sleep(0.05)
        for child in self.children.values():
            if not child.poll():
                child.kill()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not all(c.poll() for c in self.children.values()):
            time.sleep(0.05)
        for child in list(self.children.values()):
            self._release(child)
            try:
                self._put_back(child)
            except Exception:  # the others still go back to the queue
                log.exception("could not put job %s back in the queue", child.job_id)

    def _put_back(self, child: Child) -> None:
        ended_by_itself = child.returncode is not None and child.returncode >= 0
        if ended_by_itself and _files.read_result(self.home, child.job_id) is not None:
            self._settle(child.job_id, child.returncode)  # it ended before the signal landed
        elif self.queue.requeue(child.job_id, None, count_attempt=False):
            _files.append_log(self.home, child.job_id, "the server is stopping: back to the queue")


def job_secrets(workspace: Any, project: str, names: list[str]) -> dict[str, str]:
    """The values of a job's secrets, to set as its environment variables (decrypted with the
    master key of the server's store)."""
    if not names:
        return {}
    from lepton.security._secrets import SecretStore, workspace_master_key

    return SecretStore(workspace.meta, workspace_master_key(workspace)).values(project, names)


def artifacts_url(workspace: Any) -> str:
    """Where the workspace keeps artifacts (under an encrypting wrapper, if any)."""
    store = workspace.artifacts
    while not hasattr(store, "url") and hasattr(store, "inner"):
        store = store.inner
    return str(store.url)


def exit_reason(returncode: int | None) -> str:
    if returncode is None:
        return "the job's process ended without a result (see the job's log)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (out of memory?)" if -returncode == signal.SIGKILL else ""
        return f"the job's process was killed by {name}{hint}; see the job's log"
    return f"the job's process exited with code {returncode}; see the job's log"


def is_runner(pid: int, job_id: str) -> bool:
    """Whether ``pid`` is alive and is the process of job ``job_id`` (not a reused pid)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").exists():  # no /proc (macOS): alive is all we can tell
        return True
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:  # a zombie has ended
        return False
    return job_id.encode() in cmdline


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
