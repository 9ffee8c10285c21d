"""The scheduler with real child processes over a real SQLite store: slots, retries, cancels,
the jobs' environment, graceful stops and recovery after a server restart.

The children here are small Python scripts (the scheduler's ``command``) so that each test is
about scheduling; the real training process runs in tests/server/test_jobs.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lepton.jobs import JobInfo, Scheduler
from lepton.jobs._files import AttemptResult, log_path, write_result
from lepton.jobs._scheduler import SERVER_STOPPED, is_runner
from lepton.jobs._spec import parse_job_spec
from lepton.workspace._local import LocalWorkspace

# what a job's process does, chosen by the job's spec (config.action)
SCRIPT = r"""
import json, os, signal, sys, time
from pathlib import Path
from lepton.jobs._files import AttemptResult, write_result

job_id, action, trace = sys.argv[1], sys.argv[2], Path(sys.argv[3])
home = Path(os.environ["LEPTON_HOME"])

def mark(word):
    with open(trace, "a") as out:
        out.write(f"{word} {job_id}\n")

if action == "ok":
    mark("start"); time.sleep(0.2); mark("end")
    write_result(home, job_id, AttemptResult(True, "r" * 32, "model:1"))
elif action == "meet":  # ends only once another job has started too
    mark("start")
    for _ in range(400):
        if trace.read_text().count("start") >= 2:
            break
        time.sleep(0.05)
    else:
        sys.exit(5)
    write_result(home, job_id, AttemptResult(True, "r" * 32))
elif action == "fail":
    print("training blew up", flush=True)
    write_result(home, job_id, AttemptResult(False, "f" * 32, None, "ValueError: boom"))
    sys.exit(1)
elif action == "crash":
    sys.exit(3)
elif action == "hang":
    print("started", flush=True); time.sleep(600)
elif action == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("started", flush=True); time.sleep(600)
elif action == "env":
    names = ["LEPTON_HOME", "LEPTON_DB_URL", "LEPTON_ARTIFACTS", "LEPTON_PROJECT", "LEPTON_URL",
             "LEPTON_TOKEN", "LEPTON_JOB_ID", "API_TOKEN", "CUDA_VISIBLE_DEVICES"]
    Path("env.json").write_text(json.dumps({n: os.environ.get(n) for n in names}))
    write_result(home, job_id, AttemptResult(True))
"""


@pytest.fixture
def workspace(tmp_path: Path) -> LocalWorkspace:
    from lepton.security._crypto import MasterKey

    store = tmp_path / "store"
    return LocalWorkspace(
        f"sqlite:///{store / 'lepton.db'}",
        str(store / "artifacts"),
        master_key=MasterKey.generate(),
    )


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    return tmp_path / "trace.txt"


@pytest.fixture
def make_scheduler(
    workspace: LocalWorkspace, tmp_path: Path, trace: Path
) -> Callable[..., Scheduler]:
    def command(job: JobInfo) -> list[str]:
        return [sys.executable, "-c", SCRIPT, job.id, job.spec["config"]["action"], str(trace)]

    def make(**options: object) -> Scheduler:
        options.setdefault("cpu_slots", 1)
        return Scheduler(workspace, tmp_path / "home", command=command, grace=5.0, **options)  # type: ignore[arg-type]

    return make


def submit(scheduler: Scheduler, action: str, **values: object) -> JobInfo:
    spec = parse_job_spec({"data": "iris", "project": "p", "config": {"action": action}, **values})
    return scheduler.queue.add(spec, submitted_by="alice")


def drive(scheduler: Scheduler, until: Callable[[], bool], limit: float = 60.0) -> None:
    """Tick the scheduler until ``until()`` holds (``limit`` only guards against a hang)."""
    deadline = time.monotonic() + limit
    while not until():
        assert time.monotonic() < deadline, "the scheduler did not get there"
        scheduler.tick()
        time.sleep(0.02)


def status(scheduler: Scheduler, job: JobInfo) -> str:
    return scheduler.queue.get(job.id).status


def log_of(scheduler: Scheduler, job: JobInfo) -> str:
    path = log_path(scheduler.home, job.id)
    return path.read_text() if path.exists() else ""


def test_one_cpu_slot_runs_one_job_at_a_time(
    make_scheduler: Callable[..., Scheduler], trace: Path
) -> None:
    scheduler = make_scheduler(cpu_slots=1)
    first, second = submit(scheduler, "ok"), submit(scheduler, "ok")
    drive(scheduler, lambda: all(status(scheduler, j) == "succeeded" for j in (first, second)))
    assert trace.read_text().split("\n")[:-1] == [
        f"start {first.id}",
        f"end {first.id}",
        f"start {second.id}",
        f"end {second.id}",
    ]
    done = scheduler.queue.get(first.id)
    assert (done.run_id, done.model_ref, done.attempts, done.pid) == ("r" * 32, "model:1", 1, None)
    assert done.started_at is not None and done.ended_at is not None
    assert "attempt 1 of 1 starting" in log_of(scheduler, first)
    assert "attempt 1 succeeded" in log_of(scheduler, first)


def test_two_cpu_slots_run_two_jobs_at_once(make_scheduler: Callable[..., Scheduler]) -> None:
    scheduler = make_scheduler(cpu_slots=2)
    # each "meet" job ends only once the other one has started
    jobs = [submit(scheduler, "meet"), submit(scheduler, "meet")]
    drive(scheduler, lambda: all(status(scheduler, j) == "succeeded" for j in jobs))


def test_a_job_holding_both_slots_runs_alone(
    make_scheduler: Callable[..., Scheduler], trace: Path
) -> None:
    scheduler = make_scheduler(cpu_slots=2)
    big = submit(scheduler, "ok", resources={"cpu": 2})
    small = submit(scheduler, "ok")
    drive(scheduler, lambda: all(status(scheduler, j) == "succeeded" for j in (big, small)))
    assert trace.read_text().split("\n")[:2] == [f"start {big.id}", f"end {big.id}"]


def test_a_failing_job_is_retried_then_fails_with_its_error(
    make_scheduler: Callable[..., Scheduler],
) -> None:
    scheduler = make_scheduler()
    job = submit(scheduler, "fail", retries=2)
    drive(scheduler, lambda: status(scheduler, job) == "failed")
    failed = scheduler.queue.get(job.id)
    assert (failed.attempts, failed.error, failed.run_id) == (3, "ValueError: boom", "f" * 32)
    log = log_of(scheduler, job)
    assert log.count("training blew up") == 3
    assert "attempt 1 failed: ValueError: boom. Retrying (retry 1 of 2)." in log
    assert "attempt 2 failed: ValueError: boom. Retrying (retry 2 of 2)." in log
    assert "failed after 3 attempts: ValueError: boom" in log


def test_a_process_that_dies_without_a_result(make_scheduler: Callable[..., Scheduler]) -> None:
    scheduler = make_scheduler()
    job = submit(scheduler, "crash")
    drive(scheduler, lambda: status(scheduler, job) == "failed")
    assert scheduler.queue.get(job.id).error == (
        "the job's process exited with code 3; see the job's log"
    )


def test_a_job_bigger_than_the_server_fails_without_running(
    make_scheduler: Callable[..., Scheduler],
) -> None:
    scheduler = make_scheduler(cpu_slots=1)
    job = submit(scheduler, "ok", resources={"cpu": 1, "gpu": 1})
    scheduler.tick()
    failed = scheduler.queue.get(job.id)
    assert failed.status == "failed" and failed.pid is None
    assert failed.error is not None and failed.error.startswith(
        "The job asks for 1 CPU and 1 GPU slots, but this server has 1 CPU and 0 GPU slots"
    )


def test_cancel_stops_a_running_job(make_scheduler: Callable[..., Scheduler]) -> None:
    scheduler = make_scheduler()
    job = submit(scheduler, "hang")
    drive(scheduler, lambda: "started" in log_of(scheduler, job))
    pid = scheduler.queue.get(job.id).pid
    assert pid is not None and is_runner(pid, job.id)
    scheduler.queue.cancel(job.id, by="bob")
    drive(scheduler, lambda: not scheduler.children)
    assert not is_runner(pid, job.id)
    cancelled = scheduler.queue.get(job.id)
    assert (cancelled.status, cancelled.error) == ("cancelled", "cancelled by bob")
    assert "cancelled: stopping its process" in log_of(scheduler, job)
    assert "the cancelled attempt's process has ended" in log_of(scheduler, job)


def test_cancel_kills_a_job_that_ignores_sigterm(
    make_scheduler: Callable[..., Scheduler],
) -> None:
    scheduler = make_scheduler()
    scheduler.grace = 0.3
    job = submit(scheduler, "stubborn")
    drive(scheduler, lambda: "started" in log_of(scheduler, job))
    scheduler.queue.cancel(job.id, by="bob")
    drive(scheduler, lambda: not scheduler.children)
    assert status(scheduler, job) == "cancelled"
    assert "did not stop within 0.3 s of SIGTERM: SIGKILL" in log_of(scheduler, job)


def test_a_job_retried_while_its_old_process_winds_down_waits_for_it(
    make_scheduler: Callable[..., Scheduler],
) -> None:
    scheduler = make_scheduler(cpu_slots=2)
    scheduler.grace = 0.5
    job = submit(scheduler, "stubborn")
    drive(scheduler, lambda: "started" in log_of(scheduler, job))
    old = scheduler.children[job.id]
    scheduler.queue.cancel(job.id, by="bob")
    scheduler.tick()  # SIGTERM, which it ignores
    assert scheduler.queue.retry(job.id).status == "queued"
    scheduler.tick()
    assert scheduler.children[job.id] is old  # not started twice over its old process
    drive(scheduler, lambda: scheduler.children.get(job.id) not in (None, old))
    assert old.ended and status(scheduler, job) == "running"  # the retry, once it was gone
    scheduler.queue.cancel(job.id, by="bob")
    drive(scheduler, lambda: not scheduler.children)


def test_a_queued_job_cancelled_never_starts(
    make_scheduler: Callable[..., Scheduler], trace: Path
) -> None:
    scheduler = make_scheduler()
    job = submit(scheduler, "ok")
    scheduler.queue.cancel(job.id, by="bob")
    scheduler.tick()
    assert not scheduler.children and not trace.exists()


def test_the_environment_of_a_job(
    make_scheduler: Callable[..., Scheduler],
    workspace: LocalWorkspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lepton.security._secrets import SecretStore, workspace_master_key

    SecretStore(workspace.meta, workspace_master_key(workspace)).set("p", "API_TOKEN", "s3cret")
    monkeypatch.setenv("LEPTON_TOKEN", "the-servers-own-key")
    monkeypatch.setenv("LEPTON_URL", "http://127.0.0.1:9")
    scheduler = make_scheduler(gpu_slots=2)
    job = submit(scheduler, "env", secrets=["API_TOKEN"], resources={"gpu": 1})
    drive(scheduler, lambda: status(scheduler, job) == "succeeded")
    env = json.loads((scheduler.home / "jobs" / job.id / "env.json").read_text())
    assert env == {
        "LEPTON_HOME": str(scheduler.home),
        "LEPTON_DB_URL": workspace.meta.url,
        "LEPTON_ARTIFACTS": str(workspace.artifacts.url),
        "LEPTON_PROJECT": "p",
        "LEPTON_URL": "",  # the store itself, never back to the server
        "LEPTON_TOKEN": None,
        "LEPTON_JOB_ID": job.id,
        "API_TOKEN": "s3cret",
        "CUDA_VISIBLE_DEVICES": "0",
    }


def test_a_secret_gone_since_submit_fails_the_attempt(
    make_scheduler: Callable[..., Scheduler],
) -> None:
    scheduler = make_scheduler()
    job = submit(scheduler, "env", secrets=["GONE"])
    scheduler.tick()
    failed = scheduler.queue.get(job.id)
    assert failed.status == "failed" and not scheduler.children
    assert failed.error is not None
    assert failed.error.startswith("the job could not start: No secret named 'GONE'")


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _left_running(scheduler: Scheduler, action: str, pid: int, **values: object) -> JobInfo:
    """A job as a server that stopped abruptly leaves it: running, with its process's pid."""
    job = submit(scheduler, action, **values)
    assert scheduler.queue.claim(job.id) is not None
    scheduler.queue.set_pid(job.id, pid)
    return scheduler.queue.get(job.id)


def test_recovery_requeues_a_job_whose_process_is_gone(
    make_scheduler: Callable[..., Scheduler],
) -> None:
    scheduler = make_scheduler()
    with_retries = _left_running(scheduler, "ok", _dead_pid(), retries=1)
    without = _left_running(scheduler, "ok", _dead_pid())
    never_started = _left_running(scheduler, "ok", _dead_pid(), retries=1)
    scheduler.queue.set_pid(never_started.id, None)  # stopped between start and pid

    make_scheduler().recover()  # the new server process
    requeued = scheduler.queue.get(with_retries.id)
    assert (requeued.status, requeued.attempts, requeued.error) == ("queued", 1, SERVER_STOPPED)
    failed = scheduler.queue.get(without.id)
    assert (failed.status, failed.error) == ("failed", SERVER_STOPPED)
    assert scheduler.queue.get(never_started.id).status == "queued"
    assert "Retrying" in log_of(scheduler, with_retries)


def test_recovery_reads_the_result_of_a_job_that_ended_meanwhile(
    make_scheduler: Callable[..., Scheduler],
) -> None:
    scheduler = make_scheduler()
    job = _left_running(scheduler, "ok", _dead_pid())
    write_result(scheduler.home, job.id, AttemptResult(True, "r" * 32, "model:3"))
    make_scheduler().recover()
    done = scheduler.queue.get(job.id)
    assert (done.status, done.run_id, done.model_ref) == ("succeeded", "r" * 32, "model:3")


def test_recovery_adopts_a_job_whose_process_still_runs(
    make_scheduler: Callable[..., Scheduler], tmp_path: Path
) -> None:
    old = make_scheduler()
    go = tmp_path / "go"
    job = submit(old, "ok")
    script = (
        "import sys, time, pathlib\n"
        "from lepton.jobs._files import AttemptResult, write_result\n"
        f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.02)\n"
        f"write_result(pathlib.Path({str(old.home)!r}), sys.argv[1], AttemptResult(True, 'a' * 32))\n"
    )
    orphan = subprocess.Popen([sys.executable, "-c", script, job.id], start_new_session=True)
    try:
        old.queue.claim(job.id)
        old.queue.set_pid(job.id, orphan.pid)
        new = make_scheduler()
        new.recover()
        assert list(new.children) == [job.id]  # its slot is held
        new.tick()
        assert status(new, job) == "running"
        go.touch()
        orphan.wait(timeout=30)  # (in a real restart, init reaps it)
        drive(new, lambda: status(new, job) == "succeeded")
        assert new.queue.get(job.id).run_id == "a" * 32
    finally:
        orphan.kill()
        orphan.wait()


def test_is_runner_tells_a_reused_pid_apart() -> None:
    assert not is_runner(_dead_pid(), "0" * 32)
    assert not is_runner(os.getpid(), "f" * 32)  # alive, but not that job's process


def test_a_graceful_stop_puts_running_jobs_back(
    make_scheduler: Callable[..., Scheduler],
) -> None:
    scheduler = make_scheduler()
    scheduler.interval = 0.05
    job = submit(scheduler, "hang")
    queued = submit(scheduler, "ok")

    pids: list[int | None] = []

    async def run_then_stop() -> None:
        task = asyncio.create_task(scheduler.run())
        while "started" not in log_of(scheduler, job):
            assert not task.done()
            await asyncio.sleep(0.02)
        pids.append(scheduler.queue.get(job.id).pid)
        scheduler.stop()
        await asyncio.wait_for(task, 30)

    asyncio.run(run_then_stop())
    back = scheduler.queue.get(job.id)
    assert (back.status, back.attempts, back.pid) == ("queued", 0, None)
    assert status(scheduler, queued) == "queued"  # never started: one slot, held by the first
    assert pids[0] is not None and not is_runner(pids[0], job.id)
    assert not scheduler.children
    assert "the server is stopping: back to the queue" in log_of(scheduler, job)
