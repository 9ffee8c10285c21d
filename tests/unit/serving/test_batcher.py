"""Greedy batching, the bounded queue, per-request timeouts and failures, without a server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from lepton.serving._batcher import Batcher, QueueFull


class Model:
    """Doubles each row; records the batches it was called with."""

    def __init__(self, delay: float = 0.0, fail_on: Any = None) -> None:
        self.calls: list[list[Any]] = []
        self.threads: list[str] = []
        self.delay = delay
        self.fail_on = fail_on

    def __call__(self, rows: Sequence[Any]) -> tuple[list[Any], list[list[float]] | None]:
        self.calls.append(list(rows))
        self.threads.append(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on in rows:
            raise ValueError(f"cannot predict {self.fail_on}")
        return [2 * r for r in rows], [[float(r)] for r in rows]


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 10))


async def started(batcher: Batcher) -> Batcher:
    batcher.start()
    return batcher


def test_requests_queued_together_share_one_call_and_get_their_own_rows() -> None:
    model = Model()

    async def scenario() -> list[Any]:
        batcher = await started(Batcher(model))
        futures = [batcher.submit([1]), batcher.submit([2, 3]), batcher.submit([4])]
        results = await asyncio.gather(*futures)
        await batcher.stop()
        return results

    results = run(scenario())
    assert model.calls == [[1, 2, 3, 4]]
    assert results == [([2], [[1.0]]), ([4, 6], [[2.0], [3.0]]), ([8], [[4.0]])]


def test_batches_hold_at_most_max_batch_size_rows_but_never_split_a_request() -> None:
    model = Model()

    async def scenario() -> None:
        batcher = await started(Batcher(model, max_batch_size=2))
        await asyncio.gather(*(batcher.submit([i]) for i in range(5)), batcher.submit([7, 8, 9]))
        await batcher.stop()

    run(scenario())
    assert model.calls == [[0, 1], [2, 3], [4], [7, 8, 9]]


def test_a_full_queue_refuses_at_once_and_accepts_again_once_drained() -> None:
    async def scenario() -> None:
        batcher = await started(Batcher(Model(), max_queue=3))
        first = batcher.submit([1, 2])
        with pytest.raises(QueueFull):
            batcher.submit([3, 4])
        assert batcher.queued_rows == 2
        await first
        assert batcher.queued_rows == 0
        await batcher.submit([3, 4, 5])
        await batcher.stop()

    run(scenario())


def test_a_failing_batch_fails_its_requests_and_the_batcher_goes_on() -> None:
    model = Model(fail_on=2)

    async def scenario() -> None:
        batcher = await started(Batcher(model))
        bad = await asyncio.gather(batcher.submit([1]), batcher.submit([2]), return_exceptions=True)
        assert all(isinstance(r, ValueError) for r in bad)
        assert await batcher.submit([3]) == ([6], [[3.0]])
        await batcher.stop()

    run(scenario())


def test_max_wait_gathers_requests_that_arrive_a_little_later() -> None:
    model = Model()

    async def scenario() -> None:
        batcher = await started(Batcher(model, max_wait_ms=200))
        first = batcher.submit([1])
        await asyncio.sleep(0.01)
        await asyncio.gather(first, batcher.submit([2]))
        await batcher.stop()

    run(scenario())
    assert model.calls == [[1, 2]]


def test_heavy_models_predict_in_a_worker_thread() -> None:
    model = Model()

    async def scenario() -> None:
        batcher = await started(Batcher(model, in_thread=True))
        await batcher.submit([1])
        await batcher.stop()

    run(scenario())
    assert model.threads[0].startswith("lepton-predict")


def test_on_batch_reports_rows_and_seconds() -> None:
    seen: list[tuple[int, float]] = []

    async def scenario() -> None:
        batcher = await started(Batcher(Model(), on_batch=lambda n, s: seen.append((n, s))))
        await asyncio.gather(batcher.submit([1, 2]), batcher.submit([3]))
        await batcher.stop()

    run(scenario())
    assert [n for n, _ in seen] == [3] and seen[0][1] >= 0


def test_a_request_past_its_timeout_fails_and_its_rows_are_skipped() -> None:
    model = Model(delay=0.3)

    async def scenario() -> None:
        batcher = await started(Batcher(model, in_thread=True, timeout=0.1))
        running = batcher.submit([1])  # its batch takes 0.3 s
        await asyncio.sleep(0.01)
        queued = batcher.submit([2])  # waits behind it, past its deadline
        for future in (running, queued):
            with pytest.raises(TimeoutError):
                await future
        await asyncio.sleep(0.4)
        model.delay = 0
        assert await batcher.submit([3]) == ([6], [[3.0]])
        await batcher.stop()

    run(scenario())
    assert model.calls == [[1], [3]]  # the timed-out queued request never reached the model


def test_answered_requests_leave_no_deadline_behind() -> None:
    async def scenario() -> Batcher:
        batcher = await started(Batcher(Model(), timeout=5))
        for i in range(100):
            await batcher.submit([i])
        await batcher.stop()
        return batcher

    assert len(run(scenario())._deadlines) <= 1
