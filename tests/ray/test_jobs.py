"""Jobs on Ray: a team server whose scheduler submits ``backend: ray`` jobs through the Ray Jobs
API of the two-node ``ray_nodes`` cluster (the only one here with a dashboard). Real server, real
Ray jobs, real training; status, logs and cancel through the same SDK and CLI as local jobs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.live_server import free_port
from typer.testing import CliRunner

from lepton.distributed._ray_jobs import RayJobs, dashboard_url, lepton_status
from lepton.errors import BackendError, ConfigError, MissingDependencyError
from lepton.jobs import cancel_job, get_job, job_logs, submit_job, wait_job
from lepton.jobs._on_ray import submission_id
from lepton.security import PREFIX
from lepton.workspace import get_workspace, reset

LIMIT = 240.0  # seconds: only a guard against a hang, never a measure


def register_tables(tmp_path: Path, project: str = "p") -> None:
    """``good`` trains; ``single`` has one class, so a classifier fails on it at run time."""
    from lepton.data import Dataset

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    for name, y in {"good": (x[:, 0] > 0).astype(int), "single": np.ones(40, dtype=int)}.items():
        path = tmp_path / f"{name}.csv"
        pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": y}).to_csv(path, index=False)
        Dataset.from_csv(path, target="y").register(project)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIMIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def on_ray(
    ray_nodes: Any,
    start_server: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Any]:
    """A team server with a scheduler that sends ray jobs to ``ray_nodes``; the SDK and CLI of
    this process point at it as its admin; tables ``good`` and ``single`` in project ``p``."""
    monkeypatch.setenv("LEPTON_RAY_DASHBOARD", ray_nodes.dashboard)
    monkeypatch.setenv("LEPTON_RAY_PYTHON", sys.executable)  # the venv's python, with lepton
    live = start_server(scheduler=True, cpu_slots=1)
    monkeypatch.setenv("LEPTON_RAY_SERVER_URL", live.url)
    monkeypatch.setenv("LEPTON_URL", live.url)
    monkeypatch.setenv("LEPTON_TOKEN", live.admin_token)
    reset()
    register_tables(tmp_path)
    yield live
    reset()


def job_keys(live: Any) -> list[Any]:
    return [k for k in live.state.security.list_keys("admin") if k.name.endswith("on ray")]


def test_a_ray_job_trains_registers_and_logs(on_ray: Any, ray_nodes: Any) -> None:
    job = submit_job(
        {"data": "good", "model": "logistic_regression", "register": "ray-model"},
        project="p",
        backend="ray",
    )
    assert (job.status, job.spec["backend"]) == ("queued", "ray")
    done = wait_job(job.id, timeout=LIMIT)
    assert (done.status, done.attempts, done.error) == ("succeeded", 1, None)
    assert done.model_ref == "ray-model:1"
    run = get_workspace().get_run(done.run_id)
    assert run.tags["lepton.job"] == done.id and run.status == "finished"
    assert run.project == "p"

    logs = job_logs(done.id)
    assert logs.done and logs.status == "succeeded"
    assert f"submitted to the Ray cluster at {ray_nodes.dashboard}" in logs.text
    assert "training logistic_regression on good:" in logs.text  # the Ray log
    assert "Registered model ray-model:1" in logs.text
    assert "attempt 1 succeeded" in logs.text

    # Ray's own record of it: succeeded, no secret in what its dashboard shows
    ray_id = submission_id(done)
    ray_jobs = RayJobs(ray_nodes.dashboard)
    assert ray_jobs.info(ray_id).status == "SUCCEEDED"
    shown = ray_jobs.client().get_job_info(ray_id)
    env_vars = (shown.runtime_env or {}).get("env_vars", {})
    assert env_vars["LEPTON_JOB_ID"] == done.id and "LEPTON_TOKEN" not in env_vars
    assert env_vars["LEPTON_BACKEND"] == "local"  # it trains in its entrypoint
    assert PREFIX not in repr(shown.runtime_env) and on_ray.admin_token not in repr(shown)
    # the attempt's own API key was revoked when it ended
    keys = job_keys(on_ray)
    assert len(keys) == 1 and keys[0].status == "revoked"

    # the CLI shows it like any job
    from lepton.cli._app import app

    cli = CliRunner()
    shown_cli = cli.invoke(app, ["jobs", "status", done.id[:8]])
    assert shown_cli.exit_code == 0, shown_cli.output
    assert "backend  ray" in shown_cli.output and "ray-model:1" in shown_cli.output
    printed = cli.invoke(app, ["jobs", "logs", done.id[:8]])
    assert printed.exit_code == 0 and "Registered model ray-model:1" in printed.output


def test_cli_submit_then_cancel_stops_the_ray_job(
    on_ray: Any, ray_nodes: Any, tmp_path: Path
) -> None:
    from lepton.cli._app import app

    spec = tmp_path / "long.yaml"
    spec.write_text("data: good\nmodel: mlp\nepochs: 100000\n")
    cli = CliRunner()
    submitted = cli.invoke(
        app, ["jobs", "submit", str(spec), "--project", "p", "--backend", "ray", "--name", "long"]
    )
    assert submitted.exit_code == 0, submitted.output
    job = next(j for j in _jobs() if j.name == "long")
    ray_jobs = RayJobs(ray_nodes.dashboard)
    # running on the cluster: the Ray job runs and its log (copied into the job's) shows epochs
    wait_for(lambda: "epoch" in job_logs(job.id).text.lower(), "the long job to train")
    running = get_job(job.id)
    assert running.status == "running"
    assert ray_jobs.info(submission_id(running)).status == "RUNNING"

    cancelled = cli.invoke(app, ["jobs", "cancel", job.id[:8]])
    assert cancelled.exit_code == 0 and "is cancelled" in cancelled.output
    wait_for(
        lambda: ray_jobs.info(submission_id(running)).status == "STOPPED",
        "Ray to stop the job",
    )
    wait_for(
        lambda: "the cancelled attempt's Ray job has ended (STOPPED)" in job_logs(job.id).text,
        "the scheduler to see the Ray job end",
    )
    final = get_job(job.id)
    assert (final.status, final.error) == ("cancelled", "cancelled by admin")
    text = job_logs(job.id).text
    assert "cancelled: stopping its Ray job" in text
    assert all(k.status == "revoked" for k in job_keys(on_ray))
    # a job the cluster does not know (it was restarted): ended, and so said
    gone = ray_jobs.info("lepton-no-such-job")
    assert gone.status == "FAILED" and "has no such job any more" in str(gone.message)
    assert ray_jobs.logs("lepton-no-such-job") == ""


def test_a_failing_ray_job_is_retried_then_fails_with_its_log(on_ray: Any) -> None:
    job = submit_job(
        {"data": "single", "model": "logistic_regression", "retries": 1},
        project="p",
        backend="ray",
    )
    failed = wait_job(job.id, timeout=2 * LIMIT)
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert failed.error is not None
    assert failed.error.startswith("DataError: Target column 'y' of 'single' holds a single class")
    text = job_logs(job.id).text
    assert "Traceback" in text and "Retrying (retry 1 of 1)" in text
    assert "failed after 2 attempts: DataError" in text
    assert text.count("submitted to the Ray cluster") == 2  # a new Ray job for each attempt


def test_no_dashboard_at_the_address_is_a_clear_error(
    start_server: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("ray", reason='Ray is not installed: pip install "lepton-ai-sdk[ray]"')
    nowhere = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("LEPTON_RAY_DASHBOARD", nowhere)
    live = start_server(scheduler=True)
    monkeypatch.setenv("LEPTON_URL", live.url)
    monkeypatch.setenv("LEPTON_TOKEN", live.admin_token)
    reset()
    register_tables(tmp_path)
    fix = r"ray start --head --dashboard-host=.*LEPTON_RAY_DASHBOARD"
    with pytest.raises(BackendError, match=rf"No Ray Jobs API answered at {nowhere}.*{fix}"):
        submit_job({"data": "good"}, project="p", backend="ray")
    with pytest.raises(BackendError, match="No Ray Jobs API answered"):
        RayJobs(nowhere).info("raysubmit_x")
    # a local job is not affected by the Ray setting
    assert submit_job({"data": "good"}, project="p").spec["backend"] == "local"
    reset()


def test_without_a_server_url_the_attempt_fails_naming_the_setting(
    ray_nodes: Any,
    start_server: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("LEPTON_RAY_DASHBOARD", ray_nodes.dashboard)
    monkeypatch.delenv("LEPTON_RAY_SERVER_URL", raising=False)
    live = start_server(scheduler=True)
    monkeypatch.setenv("LEPTON_URL", live.url)
    monkeypatch.setenv("LEPTON_TOKEN", live.admin_token)
    reset()
    register_tables(tmp_path)
    job = wait_job(submit_job({"data": "good"}, project="p", backend="ray").id, timeout=LIMIT)
    assert job.status == "failed" and job.error is not None
    assert "the job could not start" in job.error and "LEPTON_RAY_SERVER_URL" in job.error
    assert job_keys(live) == []  # no key was made for an attempt that never started
    reset()


def test_dashboard_address_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEPTON_RAY_DASHBOARD", raising=False)
    monkeypatch.delenv("LEPTON_RAY_ADDRESS", raising=False)
    assert dashboard_url() == "http://127.0.0.1:8265"
    monkeypatch.setenv("LEPTON_RAY_ADDRESS", "10.1.2.3:6379")
    assert dashboard_url() == "http://10.1.2.3:8265"  # the head's host, the dashboard's port
    monkeypatch.setenv("LEPTON_RAY_DASHBOARD", "http://head:9000/")
    assert dashboard_url() == "http://head:9000"
    assert dashboard_url("https://ray.example:443") == "https://ray.example:443"
    with pytest.raises(ConfigError, match="'head:8265' is not a URL like http://HOST:8265"):
        dashboard_url("head:8265")
    assert [lepton_status(s) for s in ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED")] == [
        "running",
        "running",
        "succeeded",
        "failed",
        "cancelled",
    ]
    with pytest.raises(BackendError, match="job status 'ODD'; expected one of PENDING"):
        lepton_status("ODD")


def test_ray_missing_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as when not installed
    with pytest.raises(MissingDependencyError, match=r'pip install "lepton-ai-sdk\[ray\]"'):
        RayJobs("http://127.0.0.1:8265").client()


def _jobs() -> list[Any]:
    from lepton.jobs import list_jobs

    return list_jobs(project="p")


def test_a_new_scheduler_adopts_a_running_ray_job(
    ray_nodes: Any,
    start_server: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A server restart leaves Ray jobs running; the next scheduler watches them again from the
    state file (here two schedulers in turn over one server's store, ticked by the test)."""
    from lepton.jobs import Scheduler

    monkeypatch.setenv("LEPTON_RAY_DASHBOARD", ray_nodes.dashboard)
    monkeypatch.setenv("LEPTON_RAY_PYTHON", sys.executable)
    live = start_server(scheduler=False)  # the API the Ray job reports to
    monkeypatch.setenv("LEPTON_URL", live.url)
    monkeypatch.setenv("LEPTON_TOKEN", live.admin_token)
    reset()
    register_tables(tmp_path)
    job = submit_job(
        {"data": "good", "model": "mlp", "epochs": 100_000}, project="p", backend="ray"
    )

    def scheduler() -> Scheduler:
        return Scheduler(live.state.workspace, live.home, server_url=live.url)

    first = scheduler()
    first.recover()
    first.tick()  # claims and submits it
    assert job.id in first.ray_attempts
    wait_for(lambda: first.tick() or "epoch" in job_logs(job.id).text.lower(), "training")
    copied = first.ray_attempts[job.id].copied
    first.shutdown()  # as a stopping server: the Ray job goes on
    assert get_job(job.id).status == "running"

    second = scheduler()
    second.recover()
    adopted = second.ray_attempts[job.id]
    assert adopted.submission_id == submission_id(get_job(job.id)) and adopted.copied >= copied
    assert "adopted by a new server" in job_logs(job.id).text
    cancel_job(job.id)
    wait_for(lambda: second.tick() or job.id not in second.ray_attempts, "the cancel to land")
    assert RayJobs(ray_nodes.dashboard).info(adopted.submission_id).status == "STOPPED"
    assert get_job(job.id).status == "cancelled"
    assert [k.status for k in job_keys(live)] == ["revoked"]
    text = job_logs(job.id).text
    # the Ray log was copied once, not again by the second scheduler
    assert text.count(f"({job.id}), attempt 1: training") == 1
    assert text.count("submitted to the Ray cluster") == 1
    reset()


def test_an_unknown_backend_is_refused_before_anything_is_sent() -> None:
    from lepton.errors import InvalidParameterError
    from lepton.jobs._spec import parse_job_spec

    with pytest.raises(InvalidParameterError, match="backend: Input should be 'local' or 'ray'"):
        parse_job_spec({"data": "good", "backend": "spark"})
    assert parse_job_spec({"data": "good"}).backend == "local"
