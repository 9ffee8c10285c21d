"""The relay: how a fit on Ray workers reaches the driver's run while it trains.

Workers never write to the Lepton workspace (the driver owns it, and workers have no
credentials). Rank 0 puts events into a small Ray actor; the driver drains it every ~0.2 s and
applies them to its own :class:`~lepton.models.FitContext`: metrics to the run, progress to the
bar, checkpoints to the run's ``ModelCheckpoint`` saver. The relay also keeps the latest
checkpoint, so a worker group that Ray Train restarts after a worker died continues from it.

Events are tuples ``(kind, *payload)``:

- ``("report", metrics, step)`` / ``("log", metrics, step)``: ``ctx.report`` / ``ctx.log``
- ``("progress", method, args)``: a call of the driver's Progress (``advance`` carries a count)
- ``("checkpoint", index, state, epoch)``: the ``index``-th ModelCheckpoint saves ``state``
- ``("begin", epoch)``: a worker group started after ``epoch`` (-1: from scratch)
- ``("node", rank, node_id)``: where a rank runs
- ``("error", rank, exception)``: a LeptonError raised in a worker, re-raised by the driver
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from lepton.models import FitContext

Event = tuple[Any, ...]

#: how often rank 0 sends batch progress (the bar needs no more) and the driver drains
PROGRESS_EVERY_S = 0.2


class Relay:
    """The actor's class (``ray.remote(num_cpus=0)(Relay)``): a queue and the last checkpoint."""

    def __init__(self, resume_state: dict[str, Any] | None) -> None:
        self.events: list[Event] = []
        self.latest = resume_state
        self.result: dict[str, Any] | None = None
        self.controller: Any = None  # Ray Train's controller of the run, to abort it

    def put(self, event: Event) -> None:
        self.events.append(event)

    def flush(self) -> None:
        """Answered after every event its caller sent before it: an actor runs one caller's
        calls in order, so a worker that waits for this knows its fire-and-forget puts
        arrived before it returns (else the driver's last drain could miss them)."""

    def drain(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    def checkpoint(self, index: int, state: dict[str, Any], epoch: int) -> None:
        self.latest = state
        self.events.append(("checkpoint", index, state, epoch))

    def resume_state(self) -> dict[str, Any] | None:
        return self.latest

    def set_result(self, state: dict[str, Any]) -> None:
        self.result = state

    def get_result(self) -> dict[str, Any] | None:
        return self.result

    def keep_controller(self, controller: Any) -> None:
        self.controller = controller

    def get_controller(self) -> Any:
        return self.controller


class RelayContext(FitContext):
    """A worker's FitContext: reports and logs go to the relay (when this rank reports)."""

    def __init__(self, relay: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.relay = relay  # None on ranks other than 0: they train but do not report
        self.log = self._log

    def report(self, metrics: Mapping[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.history.setdefault(key, []).append(float(value))
        if self.relay is not None:
            self.relay.put.remote(("report", dict(metrics), step))

    def _log(self, metrics: Mapping[str, float], step: int) -> None:
        if self.relay is not None:
            self.relay.put.remote(("log", dict(metrics), step))


class RelayProgress:
    """Stands in for training._progress.Progress on rank 0; batch advances are batched."""

    silent = False

    def __init__(self, relay: Any) -> None:
        self.relay = relay
        self._pending = 0
        self._sent = time.monotonic()

    def _send(self, method: str, *args: Any) -> None:
        self.relay.put.remote(("progress", method, args))

    def _flush(self) -> None:
        if self._pending:
            self._send("advance", self._pending)
            self._pending = 0
        self._sent = time.monotonic()

    def start_epoch(self, epoch: int, epochs: int, batches: int) -> None:
        self._send("start_epoch", epoch, epochs, batches)

    def advance(self) -> None:
        self._pending += 1
        if time.monotonic() - self._sent >= PROGRESS_EVERY_S:
            self._flush()

    def end_epoch(self, logs: dict[str, float]) -> None:
        self._flush()
        self._send("end_epoch", dict(logs))

    def step(self, done: int, total: int, logs: dict[str, float], **kwargs: Any) -> None:
        self._send("step", done, total, dict(logs), kwargs)

    def status(self, message: str) -> None:
        self._send("status", message)

    def close(self, logs: dict[str, float] | None = None) -> None:
        self._flush()


class RelaySave:
    """The ``save`` of a worker's ModelCheckpoint: hands the state to the relay and waits, so a
    checkpoint that rank 0 went past is one a restarted worker group can continue from."""

    def __init__(self, relay: Any, index: int) -> None:
        self.relay = relay
        self.index = index

    def __call__(self, state: dict[str, Any], epoch: int) -> None:
        import ray

        ray.get(self.relay.checkpoint.remote(self.index, state, epoch))


class Applier:
    """Applies drained events to the driver's context, once each.

    After a restart, epochs after the last checkpoint are trained again; their metrics were
    already reported, so a ``report`` of an epoch the run has is dropped (the run keeps one value
    per epoch, as a local run does).
    """

    def __init__(self, ctx: FitContext, savers: list[Any], *, dedupe_steps: bool) -> None:
        self.ctx = ctx
        self.savers = savers
        self.dedupe = dedupe_steps
        resumed = ctx.resume_state
        self.last_step = int(resumed["epoch"]) if resumed is not None else -1
        self.last_saved = self.last_step
        self.begins: list[int] = []
        self.nodes: dict[int, str] = {}
        self.error: BaseException | None = None

    def apply(self, events: list[Event]) -> None:
        for event in events:
            getattr(self, f"_on_{event[0]}")(*event[1:])

    def _on_report(self, metrics: dict[str, float], step: int) -> None:
        if self.dedupe and step <= self.last_step:
            return
        self.last_step = max(self.last_step, step)
        self.ctx.report(metrics, step)

    def _on_log(self, metrics: dict[str, float], step: int) -> None:
        self.ctx.log(metrics, step)

    def _on_progress(self, method: str, args: tuple[Any, ...]) -> None:
        progress = self.ctx.progress
        if progress is None:
            return
        if method == "advance":
            for _ in range(int(args[0])):
                progress.advance()
        elif method == "step":
            done, total, logs, kwargs = args
            progress.step(done, total, logs, **kwargs)
        else:
            getattr(progress, method)(*args)

    def _on_checkpoint(self, index: int, state: dict[str, Any], epoch: int) -> None:
        if epoch < self.last_saved:
            return  # an older state than the artifact already holds
        self.last_saved = epoch
        self.savers[index](state, epoch)

    def _on_begin(self, epoch: int) -> None:
        self.begins.append(epoch)

    def _on_node(self, rank: int, node_id: str) -> None:
        self.nodes[rank] = node_id

    def _on_error(self, rank: int, error: BaseException) -> None:
        if self.error is None:
            self.error = error
