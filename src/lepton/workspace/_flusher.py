"""A background writer for metric points, so logging in a training loop costs almost nothing.

``add`` appends to a lock-free deque; a daemon thread writes what has piled up in one batch
every ``interval`` seconds, or sooner when ``batch_size`` points wait. Big, rare batches keep
the writer from competing with the training loop for the GIL (SQLite's executemany hands the
GIL back and forth on every row). The buffer is bounded:
past ``max_pending`` the caller writes synchronously, so memory never grows without limit.
``flush`` drains everything now; it runs at ``Run.end()`` and at interpreter exit.
"""

from __future__ import annotations

import atexit
import collections
import threading
from collections.abc import Callable, Sequence

from lepton.errors import StoreError

Row = tuple[str, str, int, float, float]


class MetricFlusher:
    def __init__(
        self,
        sink: Callable[[Sequence[Row]], None],
        *,
        interval: float = 1.0,
        batch_size: int = 100_000,
        max_pending: int = 200_000,
    ) -> None:
        self._sink = sink
        self._interval = interval
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._pending: collections.deque[Row] = collections.deque()
        self._wake = threading.Event()
        self._write_lock = threading.Lock()  # one writer at a time: thread or a flush() caller
        self._error: BaseException | None = None
        self._lost = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="lepton-metrics", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def add(self, row: Row) -> None:
        pending = self._pending
        pending.append(row)
        size = len(pending)
        if size >= self._batch_size:
            if size >= self._max_pending:
                self.flush()  # back-pressure: the writer is behind, so the caller helps
            else:
                self._wake.set()

    def _drain_once(self) -> None:
        pending = self._pending
        with self._write_lock:
            count = len(pending)
            if not count:
                return
            batch = [pending.popleft() for _ in range(count)]
            try:
                self._sink(batch)
            except BaseException as exc:  # kept and raised by the next flush(), never swallowed
                self._error = exc
                self._lost += len(batch)

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain_once()

    def flush(self) -> None:
        """Write every pending point now; raise if an earlier background write failed."""
        while self._pending:
            self._drain_once()
        if self._error is not None:
            error, lost = self._error, self._lost
            self._error, self._lost = None, 0
            raise StoreError(f"{lost} metric points could not be written: {error}") from error

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._wake.set()
        try:
            self.flush()
        except StoreError as exc:  # at interpreter exit only stderr is left to tell
            import sys

            print(f"lepton: {exc}", file=sys.stderr)
