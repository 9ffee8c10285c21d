"""Training jobs on a live team server over real HTTP: real training processes, one CPU slot
shared by several jobs, cancels, retries, logs, roles, the 422s of a bad spec, and recovery
of jobs a stopped server left running."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from lepton.errors import ConfigError, InvalidParameterError, PermissionDeniedError
from lepton.jobs import (
    JobNotFoundError,
    JobQueue,
    Scheduler,
    cancel_job,
    get_job,
    job_logs,
    list_jobs,
    retry_job,
    submit_job,
    wait_job,
)
from lepton.jobs._scheduler import SERVER_STOPPED, is_runner
from lepton.workspace import reset

LIMIT = 180.0  # seconds: only a guard against a hang, never a measure


def use(server: Any, monkeypatch: pytest.MonkeyPatch, token: str | None = None) -> None:
    """Point this process's SDK and CLI at ``server`` (as the admin, or ``token``'s user)."""
    monkeypatch.setenv("LEPTON_URL", server.url)
    monkeypatch.setenv("LEPTON_TOKEN", token or server.admin_token)
    reset()


def register_tables(tmp_path: Path, project: str = "p") -> None:
    """Two tiny tables on the server: ``good`` trains; ``single`` has one class, so a
    classifier fails on it while the job runs (nothing at submit can tell)."""
    from lepton.data import Dataset

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    tables = {"good": (x[:, 0] > 0).astype(int), "single": np.ones(40, dtype=int)}
    for name, y in tables.items():
        path = tmp_path / f"{name}.csv"
        pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": y}).to_csv(path, index=False)
        Dataset.from_csv(path, target="y").register(project)


def raw(server: Any, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url + "/api/v1", headers={"authorization": f"Bearer {token}"}
    )


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIMIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def scheduling(start_server: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A server whose scheduler has two CPU slots, with the SDK pointed at it."""
    live = start_server(scheduler=True, cpu_slots=2)
    use(live, monkeypatch)
    yield live
    reset()


def test_slots_cancel_retries_training_and_links(scheduling: Any, tmp_path: Path) -> None:
    register_tables(tmp_path)
    # a long torch job that holds both slots: nothing else runs until it is cancelled
    long = submit_job(
        {"data": "good", "model": "mlp", "epochs": 100_000, "resources": {"cpu": 2}},
        name="long",
        project="p",
    )
    wait_for(lambda: get_job(long.id).status == "running", "the long job to start")
    spec = tmp_path / "train.yaml"
    spec.write_text("data: good\nmodel: logistic_regression\nregister: good-model\n")
    good = submit_job(spec, project="p")
    assert (good.status, good.name, good.spec["register"]) == (
        "queued",
        "logistic_regression-good",
        "good-model",
    )
    assert good.spec["data"].startswith("good:")  # pinned to the version there at submit
    failing = submit_job(
        {"data": "single", "model": "logistic_regression", "retries": 1}, project="p"
    )
    assert {j.status for j in list_jobs() if j.id != long.id} == {"queued"}

    running = get_job(long.id)
    assert running.pid is not None and is_runner(running.pid, long.id)
    cancelled = cancel_job(long.id[:8])
    assert (cancelled.status, cancelled.error) == ("cancelled", "cancelled by admin")
    wait_for(lambda: not is_runner(running.pid, long.id), "the cancelled process to end")
    assert "cancelled: stopping its process" in job_logs(long.id).text

    # a cancelled job can be queued again by hand, and cancelled again before it starts
    again = retry_job(long.id)
    assert (again.status, again.attempts, again.error) == ("queued", 0, None)
    assert cancel_job(long.id).status == "cancelled"

    # the two others share the slots now
    done, failed = wait_job(good.id, timeout=LIMIT), wait_job(failing.id, timeout=LIMIT)
    assert (done.status, done.attempts, done.error) == ("succeeded", 1, None)
    assert done.model_ref == "good-model:1"
    from lepton.workspace import get_workspace

    run = get_workspace().get_run(done.run_id)
    assert run.tags["lepton.job"] == done.id and run.status == "finished"
    version = get_workspace().get_model_version("good-model", version=1)
    assert version.run_id == done.run_id and version.tags["lepton.job"] == done.id

    logs = job_logs(done.id)
    assert logs.done and logs.status == "succeeded"
    assert "Registered model good-model:1" in logs.text
    assert "attempt 1 succeeded" in logs.text
    rest = job_logs(done.id, offset=logs.next_offset)
    assert (rest.text, rest.next_offset, rest.done) == ("", logs.next_offset, True)

    # the failing one was retried once, then failed with the error of its last attempt
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert failed.error is not None
    assert failed.error.startswith("DataError: Target column 'y' of 'single' holds a single class")
    text = job_logs(failed.id).text
    assert "Traceback" in text and "Retrying (retry 1 of 1)" in text
    assert "failed after 2 attempts: DataError" in text
    with pytest.raises(InvalidParameterError, match="has already failed.*lepton jobs retry"):
        cancel_job(failed.id)

    from typer.testing import CliRunner

    from lepton.cli._app import app

    cli = CliRunner()
    listed = cli.invoke(app, ["jobs", "list", "--json"])
    assert listed.exit_code == 0 and '"model_ref": "good-model:1"' in listed.output
    shown = cli.invoke(app, ["jobs", "status", done.id[:8], "--json"])
    assert shown.exit_code == 0 and f'"run_id": "{done.run_id}"' in shown.output
    printed = cli.invoke(app, ["jobs", "logs", "-f", done.id[:8]])
    assert printed.exit_code == 0 and "Registered model good-model:1" in printed.output


def test_submit_checks_the_spec_against_the_server(
    server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(server, monkeypatch)
    register_tables(tmp_path)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"data": "data/good.csv"}, r"data: 'data/good.csv' is a file path.*lepton data add"),
        ({"data": "nope"}, r"data: No dataset named 'nope'.*Existing datasets: 'good', 'single'"),
        ({"data": "good", "model": "gpt"}, r"model: No zoo model named 'gpt'"),
        ({"data": "good", "model": "cnn"}, r"model: cnn trains on images, but dataset 'good'"),
        (
            {"data": "good", "model": "logistic_regression", "config": {"C": -1}},
            r"config: .*C = -1 is invalid",
        ),
        ({"data": "good", "config": {"bogus": 1}}, r"config: .*no setting 'bogus'"),
        ({"data": "good", "epochs": 3, "model": "lightgbm"}, r"epochs: lightgbm trains in one go"),
        ({"data": "good", "target": "a"}, r"target: dataset 'good' was registered with target 'y'"),
        ({"data": "good", "output": "/tmp/m"}, r"output: a job cannot write files on the server"),
        (
            {"data": "good", "resources": {"gpu": 1}},
            r"resources\.gpu: .*asks for 1 GPU slots.*has 0",
        ),
        ({"data": "good", "resources": {"cpu": 64}}, r"resources\.cpu: .*asks for 64 CPU"),
        ({"data": "good", "secrets": ["API_KEY"]}, r"secrets: project 'p' has no secret 'API_KEY'"),
        ({"data": "good", "resume": "0" * 32}, r"resume: No run named"),
        ({"data": "good", "project": "ghost"}, r"project: there is no project 'ghost'"),
    ]
    http = raw(server, server.admin_token)
    for spec, match in cases:
        body = {"project": "p", **spec}
        reply = http.post("/jobs", json=body)
        assert reply.status_code == 422, (spec, reply.text)
        message = reply.json()["error"]["message"]
        assert re.search(match, message), (match, message)
    # the body's shape is checked by the same model, with the field named
    reply = http.post("/jobs", json={"project": "p", "data": "good", "resources": {"cpu": 0}})
    assert reply.status_code == 422 and "resources.cpu" in reply.json()["error"]["message"]
    reply = http.post("/jobs", json={"data": "good"})
    assert reply.status_code == 422 and "project: missing" in reply.json()["error"]["message"]
    assert list_jobs() == []  # nothing was queued
    # the SDK says the same, and refuses a file of this machine before sending anything
    with pytest.raises(InvalidParameterError, match="model: No zoo model named 'gpt'"):
        submit_job({"data": "good", "model": "gpt"}, project="p")
    (tmp_path / "local.csv").write_text("a,y\n1,0\n")
    with pytest.raises(InvalidParameterError, match="is a file path.*lepton data add"):
        submit_job({"data": str(tmp_path / "local.csv")}, project="p")


def test_roles(server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use(server, monkeypatch)
    register_tables(tmp_path)
    register_tables(tmp_path, project="q")
    job = submit_job({"data": "good"}, project="p")
    other = submit_job({"data": "good"}, project="q")
    # a developer of p: submits, cancels and retries in p; reads nothing of q
    use(server, monkeypatch, server.make_token("developer", "p"))
    mine = submit_job({"data": "good", "name": "mine"}, project="p")
    assert mine.submitted_by != "admin"
    assert {j.id for j in list_jobs()} == {job.id, mine.id}
    assert cancel_job(mine.id).status == "cancelled"
    assert retry_job(mine.id).status == "queued"
    with pytest.raises(PermissionDeniedError, match="needs the 'viewer' role in project 'q'"):
        get_job(other.id)
    with pytest.raises(PermissionDeniedError, match="'developer' role in project 'q'"):
        submit_job({"data": "good"}, project="q")
    # a viewer of p: reads and follows, changes nothing
    use(server, monkeypatch, server.make_token("viewer", "p"))
    assert get_job(job.id).id == job.id and job_logs(job.id).status == "queued"
    assert [j.id for j in list_jobs(project="p", status="cancelled")] == []
    for change in (cancel_job, retry_job):
        with pytest.raises(PermissionDeniedError, match="'developer' role in project 'p'"):
            change(job.id)
    with pytest.raises(PermissionDeniedError, match="'viewer' role in project 'q'"):
        list_jobs(project="q")
    # someone without a role sees an empty list
    use(server, monkeypatch, server.make_token(None))
    assert list_jobs() == []
    use(server, monkeypatch)
    with pytest.raises(JobNotFoundError, match="No job named 'abcdef12'"):
        get_job("abcdef12")
    # every change is in the audit trail, with the job named
    actions = [(e.action, e.details.get("job")) for e in server.state.audit.list()]
    assert ("POST /jobs", mine.id) in actions
    assert ("POST /jobs/{job_id}/cancel", mine.id) in actions
    assert ("POST /jobs/{job_id}/retry", mine.id) in actions


def test_recovery_after_a_server_stopped_abruptly(
    server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(server, monkeypatch)
    register_tables(tmp_path)
    retried = submit_job({"data": "good", "retries": 1}, project="p")
    lost = submit_job({"data": "good"}, project="p")
    # as a server killed mid-job leaves them: running, their processes gone
    queue = JobQueue(server.state.workspace.meta)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for job in (retried, lost):
        queue.claim(job.id)
        queue.set_pid(job.id, dead.pid)
    Scheduler(server.state.workspace, server.home).recover()  # what a new server does first
    after = get_job(retried.id)
    assert (after.status, after.attempts, after.error) == ("queued", 1, SERVER_STOPPED)
    gone = get_job(lost.id)
    assert (gone.status, gone.error) == ("failed", SERVER_STOPPED)
    assert SERVER_STOPPED in job_logs(lost.id).text


def test_jobs_need_a_team_server() -> None:
    with pytest.raises(ConfigError, match="Jobs run on a team server.*lepton server start.*login"):
        list_jobs()
    with pytest.raises(ConfigError, match="Jobs run on a team server"):
        submit_job({"data": "good"})
