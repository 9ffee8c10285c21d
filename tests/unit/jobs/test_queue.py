"""The jobs table's status moves (each one conditional, so concurrent moves never both land)
and which queued jobs start in how many slots, over a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton.errors import InvalidParameterError
from lepton.jobs import JobInfo, JobNotFoundError, JobQueue
from lepton.jobs._slots import plan
from lepton.jobs._spec import parse_job_spec
from lepton.store import MetadataStore


@pytest.fixture
def queue(tmp_path: Path) -> JobQueue:
    return JobQueue(MetadataStore(f"sqlite:///{tmp_path / 'jobs.db'}"))


def add(queue: JobQueue, project: str = "p", **values: object) -> JobInfo:
    spec = parse_job_spec({"data": "iris", "project": project, **values})
    return queue.add(spec, submitted_by="alice")


def test_add_get_and_list(queue: JobQueue) -> None:
    job = add(queue, resources={"cpu": 2}, retries=3, secrets=["TOKEN"], register="iris-model")
    assert (job.status, job.cpu, job.gpu, job.max_retries, job.attempts) == ("queued", 2, 0, 3, 0)
    assert job.name == "lightgbm-iris" and job.secrets == ["TOKEN"]
    assert job.spec["register"] == "iris-model"  # stored with the YAML's keys
    assert queue.get(job.id) == job
    assert queue.get(job.id[:8]) == job
    other = add(queue, project="q", name="second")
    assert [j.id for j in queue.list_jobs()] == [other.id, job.id]  # newest first
    assert [j.id for j in queue.list_jobs({"p"})] == [job.id]
    assert queue.list_jobs(set()) == []
    assert [j.id for j in queue.list_jobs(status="queued", limit=1)] == [other.id]
    assert sorted(queue.projects()) == ["p", "q"]


def test_unknown_and_invalid_ids(queue: JobQueue) -> None:
    add(queue)
    with pytest.raises(JobNotFoundError, match="No job named 'abcdef12'.*lepton jobs list"):
        queue.get("abcdef12")
    with pytest.raises(InvalidParameterError, match="Invalid job id 'x/../y'"):
        queue.get("x/../y")
    with pytest.raises(InvalidParameterError, match="Unknown job status 'done'"):
        queue.list_jobs(status="done")


def test_claim_is_once(queue: JobQueue) -> None:
    job = add(queue)
    claimed = queue.claim(job.id)
    assert claimed is not None and (claimed.status, claimed.attempts) == ("running", 1)
    assert claimed.started_at is not None
    assert queue.claim(job.id) is None  # already running: a second scheduler gets nothing


def test_cancel_a_queued_and_a_running_job(queue: JobQueue) -> None:
    queued = add(queue)
    cancelled = queue.cancel(queued.id, by="bob")
    assert (cancelled.status, cancelled.error) == ("cancelled", "cancelled by bob")
    assert queue.claim(queued.id) is None  # the scheduler can no longer start it
    assert queue.cancel(queued.id, by="bob").status == "cancelled"  # again: nothing changes
    running = add(queue)
    queue.claim(running.id)
    assert queue.cancel(running.id, by="bob").status == "cancelled"
    # the process ends after the cancel: its ending does not overwrite the cancel
    assert not queue.finish(running.id, "succeeded")
    assert queue.get(running.id).status == "cancelled"


def test_cancel_an_ended_job_says_so(queue: JobQueue) -> None:
    job = add(queue)
    queue.claim(job.id)
    queue.finish(job.id, "failed", error="boom")
    with pytest.raises(InvalidParameterError, match="has already failed.*lepton jobs retry"):
        queue.cancel(job.id, by="bob")
    other = add(queue)
    queue.claim(other.id)
    queue.finish(other.id, "succeeded", run_id="r" * 32, model_ref="m:1")
    with pytest.raises(InvalidParameterError, match="has already succeeded; there is nothing"):
        queue.cancel(other.id, by="bob")


def test_retry_resets_the_budget(queue: JobQueue) -> None:
    job = add(queue, retries=1)
    queue.claim(job.id)
    queue.finish(job.id, "failed", error="boom", run_id="a" * 32)
    retried = queue.retry(job.id)
    assert (retried.status, retried.attempts, retried.error, retried.run_id) == (
        "queued",
        0,
        None,
        None,
    )
    with pytest.raises(InvalidParameterError, match="is queued; only a failed or cancelled"):
        queue.retry(job.id)
    queue.claim(job.id)
    queue.finish(job.id, "succeeded")
    with pytest.raises(InvalidParameterError, match="succeeded.*Submit the spec again"):
        queue.retry(job.id)


def test_requeue_counts_the_attempt_or_gives_it_back(queue: JobQueue) -> None:
    job = add(queue, retries=2)
    queue.claim(job.id)
    assert queue.requeue(job.id, "boom")
    assert (queue.get(job.id).attempts, queue.get(job.id).error) == (1, "boom")
    queue.claim(job.id)
    assert queue.requeue(job.id, None, count_attempt=False)  # the server stopped
    back = queue.get(job.id)
    assert (back.status, back.attempts, back.error) == ("queued", 1, "boom")
    assert not queue.requeue(job.id, None)  # not running: nothing to put back


def test_long_errors_are_clipped(queue: JobQueue) -> None:
    job = add(queue)
    queue.claim(job.id)
    queue.finish(job.id, "failed", error="x" * 10_000)
    error = queue.get(job.id).error
    assert error is not None and len(error) <= 4000 and error.endswith("(see the log)")


def _job(name: str, cpu: int = 1, gpu: int = 0) -> JobInfo:
    return JobInfo(
        id=name, project="p", name=name, kind="train", status="queued", spec={},
        cpu=cpu, gpu=gpu, max_retries=0, attempts=0,
    )  # fmt: skip


def names(jobs: list[JobInfo]) -> list[str]:
    return [j.name for j in jobs]


def test_plan_starts_oldest_first_while_slots_last() -> None:
    queued = [_job("a"), _job("b"), _job("c")]
    assert names(plan(queued, 2, 0, 2, 0).start) == ["a", "b"]
    assert names(plan(queued, 0, 0, 2, 0).start) == []
    assert names(plan([_job("a", cpu=2), _job("b")], 3, 0, 4, 0).start) == ["a", "b"]


def test_a_waiting_job_holds_the_slots_it_lacks() -> None:
    # "big" needs 2 CPUs and 1 is free: the small job after it may not take that CPU
    assert names(plan([_job("big", cpu=2), _job("small")], 1, 0, 2, 0).start) == []
    # a GPU job waiting for its GPU does not stop CPU jobs behind it...
    gpu_first = [_job("gpu", gpu=1), _job("cpu")]
    assert names(plan(gpu_first, 2, 0, 2, 1).start) == ["cpu"]
    # ...but a later GPU job may not take the GPU before it
    assert names(plan([_job("g1", gpu=2), _job("g2", gpu=1)], 2, 1, 2, 2).start) == []


def test_jobs_bigger_than_the_server_are_impossible() -> None:
    decided = plan([_job("huge", cpu=8), _job("gpu", gpu=1), _job("ok")], 2, 0, 2, 0)
    assert names(decided.impossible) == ["huge", "gpu"]
    assert names(decided.start) == ["ok"]
