"""Adaptive batching: requests that arrive while the model is busy are merged into one call.

Greedy by default (``max_wait_ms=0``): the batcher takes everything queued, up to
``max_batch_size`` rows, runs one predict, and fans the results back in order. Under load
batches grow by themselves; with one client a request waits for nobody. ``max_wait_ms > 0``
holds a batch open a little longer to gather more. The queue is bounded (``max_queue`` rows):
past it, ``submit`` refuses at once so the server answers 429 instead of growing memory.

With ``timeout`` a request not answered within that many seconds fails with TimeoutError,
whether it is still queued or its batch is running. One reaper task keeps the deadlines: they
arrive in order (same timeout for all), so it sleeps until the oldest one, and a request costs
an append rather than a timer of its own (``asyncio.timeout`` per request cost about 7 % of
the server's time at 64 clients).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Output = tuple[list[Any], list[list[float]] | None]


class QueueFull(Exception):
    pass


class Batcher:
    def __init__(
        self,
        predict: Callable[[Sequence[Any]], Output],
        *,
        max_batch_size: int = 256,
        max_wait_ms: float = 0.0,
        max_queue: int = 4096,
        in_thread: bool = False,
        on_batch: Callable[[int, float], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self._pending: deque[tuple[Sequence[Any], asyncio.Future[Output]]] = deque()
        self.queued_rows = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        # heavy models (torch) predict in a worker thread so the event loop keeps accepting
        self._executor = (
            ThreadPoolExecutor(1, thread_name_prefix="lepton-predict") if in_thread else None
        )
        self._on_batch = on_batch
        self.timeout = timeout
        # (deadline, future) of requests not known to be answered, oldest first
        self._deadlines: deque[tuple[float, asyncio.Future[Output]]] = deque()
        self._reaper_wake: asyncio.Event | None = None
        self._reaper: asyncio.Task[None] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run())
        if self.timeout is not None:
            self._reaper_wake = asyncio.Event()
            self._reaper = loop.create_task(self._reap())

    async def stop(self) -> None:
        for task in (self._task, self._reaper):
            if task is not None:
                task.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    def submit(self, rows: Sequence[Any]) -> asyncio.Future[Output]:
        """Queue ``rows``; the future resolves to this request's (predictions, probabilities)."""
        if self.queued_rows + len(rows) > self.max_queue:
            raise QueueFull
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Output] = loop.create_future()
        if self._reaper_wake is not None and self.timeout is not None:
            deadlines = self._deadlines
            while deadlines and deadlines[0][1].done():  # answered: forget them
                deadlines.popleft()
            if not deadlines:
                self._reaper_wake.set()
            deadlines.append((loop.time() + self.timeout, future))
        self._pending.append((rows, future))
        self.queued_rows += len(rows)
        assert self._wake is not None
        self._wake.set()
        return future

    async def _reap(self) -> None:
        """Fail requests past their deadline with TimeoutError (their batch skips them)."""
        assert self._reaper_wake is not None
        loop = asyncio.get_running_loop()
        deadlines = self._deadlines
        while True:
            if not deadlines:
                self._reaper_wake.clear()
                await self._reaper_wake.wait()
                continue
            deadline, future = deadlines[0]
            delay = deadline - loop.time()
            if delay > 0 and not future.done():
                await asyncio.sleep(delay)
                continue
            deadlines.popleft()
            if not future.done():
                future.set_exception(TimeoutError())

    async def _run(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                if self.max_wait and self.queued_rows < self.max_batch_size:
                    await asyncio.sleep(self.max_wait)
                batch = self._take()
                if batch:
                    await self._serve(batch, loop)

    def _take(self) -> list[tuple[Sequence[Any], asyncio.Future[Output]]]:
        batch: list[tuple[Sequence[Any], asyncio.Future[Output]]] = []
        rows = 0
        pending = self._pending
        while pending and (not batch or rows + len(pending[0][0]) <= self.max_batch_size):
            item = pending.popleft()
            rows += len(item[0])
            batch.append(item)
        self.queued_rows -= rows
        return [item for item in batch if not item[1].done()]  # skip requests that timed out

    async def _serve(
        self,
        batch: list[tuple[Sequence[Any], asyncio.Future[Output]]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        rows: list[Any] = []
        for request_rows, _ in batch:
            rows.extend(request_rows)
        started = time.perf_counter()
        try:
            if self._executor is not None:
                predictions, probabilities = await loop.run_in_executor(
                    self._executor, self._predict, rows
                )
            else:
                predictions, probabilities = self._predict(rows)
        except Exception as exc:  # one bad batch fails its requests, never the server
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        if self._on_batch is not None:
            self._on_batch(len(rows), time.perf_counter() - started)
        start = 0
        for request_rows, future in batch:
            end = start + len(request_rows)
            if not future.done():
                future.set_result(
                    (
                        predictions[start:end],
                        probabilities[start:end] if probabilities is not None else None,
                    )
                )
            start = end
