"""One replica of a Lepton deployment inside Ray Serve: Lepton's own inference app, batched by
``@serve.batch``.

The replica runs :class:`lepton.serving._app.InferenceApp` itself, so validation, error bodies,
status codes, the API-key check and the Prometheus metrics are the very code a local replica
runs; only the batching goes through Serve. Requests arrive as raw HTTP parts through a Serve
handle (the control plane's proxy holds it), not through Serve's HTTP proxy, so nothing here
listens on a port. Every second the replica pushes its metrics text and sampled requests to the
deployment's collector actor, which the control plane reads in its scrape loop.

This module imports ray at import time (``@serve.batch`` decorates at class definition): only
the Ray Serve backend imports it, after ``ray_module()`` has checked Ray is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ray import serve

from lepton.serving._batcher import Batcher, QueueFull

Output = tuple[list[Any], list[list[float]] | None]
PUSH_SECONDS = 1.0


class ServeBatcher(Batcher):
    """The InferenceApp's batcher, handing rows to a ``@serve.batch`` method instead of its own
    queue. It keeps the app's contract: QueueFull past ``max_queue`` rows (429), TimeoutError
    past ``timeout`` seconds (504), and the model's exception for a failed batch (500)."""

    def __init__(self, batched: Any, *, max_queue: int, timeout: float | None) -> None:
        super().__init__(_unused, max_queue=max_queue, timeout=None)
        self._batched = batched
        self.request_timeout = timeout

    def start(self) -> None:  # Serve runs the batches: no task of ours
        return None

    async def stop(self) -> None:
        return None

    def submit(self, rows: Sequence[Any]) -> asyncio.Future[Output]:
        if self.queued_rows + len(rows) > self.max_queue:
            raise QueueFull
        self.queued_rows += len(rows)
        return asyncio.ensure_future(self._one(rows))

    async def _one(self, rows: Sequence[Any]) -> Output:
        try:
            result: Output = await asyncio.wait_for(self._batched(rows), self.request_timeout)
            return result
        finally:
            self.queued_rows -= len(rows)


def _unused(rows: Sequence[Any]) -> Output:
    raise RuntimeError("ServeBatcher predicts through @serve.batch")


@serve.deployment(name="model")
class LeptonReplica:
    """Serve deployment class of one Lepton deployment (init args from the control plane)."""

    def __init__(
        self,
        bundle: bytes,
        name: str,
        version: int,
        key_hash: str | None,
        options: dict[str, Any],
        collector: tuple[str, str] | None,
    ) -> None:
        from lepton.models._bundle import load_bundle
        from lepton.serving._app import InferenceApp, ServerOptions

        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="lepton-serve-") as tmp:
            path = Path(tmp) / "model.lepton"
            path.write_bytes(bundle)
            model = load_bundle(path)  # verifies every file's hash
        server_options = ServerOptions(**options)
        self.app = InferenceApp(
            model,
            name=name,
            version=version,
            key_hash=key_hash,
            options=server_options,
            load_seconds=time.perf_counter() - started,
        )
        self.version = version
        self.app.batcher = ServeBatcher(
            self._predict_batch,
            max_queue=server_options.max_queue,
            timeout=server_options.request_timeout,
        )
        # Serve counts requests per batch, Lepton's setting counts rows: requests of one row
        # (the common case) make them the same
        batched: Any = self._predict_batch  # serve.batch's wrapper: settable per deployment
        batched.set_max_batch_size(max(1, server_options.max_batch_size))
        batched.set_batch_wait_timeout_s(server_options.max_wait_ms / 1000.0)
        self._executor = (
            ThreadPoolExecutor(1, thread_name_prefix="lepton-predict")
            if model.family == "torch"
            else None
        )
        self.app.ready = True
        self.replica_id = serve.get_replica_context().replica_id.unique_id
        self.started_at = time.time()
        self._collector_name = collector
        self._collector: Any = None
        self._pusher = asyncio.get_running_loop().create_task(self._push_forever())

    def reconfigure(self, config: dict[str, Any]) -> None:
        """The control plane's token (new at each control plane start): a lightweight update."""
        self.app.internal_token_hash = config.get("internal_hash") or None

    async def http(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """One HTTP request through the InferenceApp: (status, headers, body) back."""
        path, _, query = target.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method.decode("latin-1"),
            "path": path.decode("latin-1"),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": headers,
            "scheme": "http",
        }
        sent: list[dict[str, Any]] = []
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:  # the app reads the body once; a second read waits for nothing
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return int(start["status"]), list(start.get("headers", [])), out

    @serve.batch(max_batch_size=256, batch_wait_timeout_s=0.0)
    async def _predict_batch(self, requests: list[Sequence[Any]]) -> list[Output]:
        rows: list[Any] = [row for request in requests for row in request]
        started = time.perf_counter()
        predict = self.app.predictor.predict
        if self._executor is not None:  # heavy models: the event loop keeps accepting
            loop = asyncio.get_running_loop()
            predictions, probabilities = await loop.run_in_executor(self._executor, predict, rows)
        else:
            predictions, probabilities = predict(rows)
        self.app.metrics.record_batch(len(rows), time.perf_counter() - started)
        out: list[Output] = []
        start = 0
        for request in requests:
            end = start + len(request)
            out.append(
                (
                    predictions[start:end],
                    probabilities[start:end] if probabilities is not None else None,
                )
            )
            start = end
        return out

    async def check_health(self) -> None:
        if not self.app.ready:
            raise RuntimeError("the inference app is not ready")

    # metrics for the control plane -----------------------------------------------------------
    def _report(self) -> dict[str, Any]:
        samples = list(self.app.samples)
        self.app.samples.clear()
        return {
            "replica_id": self.replica_id,
            "version": self.version,
            "pid": os.getpid(),
            "node": _node_ip(),
            "node_id": _node_id(),
            "started_at": self.started_at,
            "metrics": self.app.metrics.render(),
            "samples": samples,
        }

    async def _push_forever(self) -> None:
        while True:
            await self._push()
            await asyncio.sleep(PUSH_SECONDS)

    async def _push(self, gone: bool = False) -> None:
        """Send the metrics (and the samples taken since the last push) to the collector; a
        collector that is gone (control plane restarted) is looked up again next time."""
        import ray

        if self._collector_name is None:
            return
        report = self._report()
        report["gone"] = gone
        try:
            if self._collector is None:
                name, namespace = self._collector_name
                self._collector = ray.get_actor(name, namespace=namespace)
            await self._collector.push.remote(report)
        except Exception:  # metrics are best effort; serving goes on without a collector
            self._collector = None
            # the samples of this push are lost with it, as a local replica's are on a failed scrape

    def __del__(self) -> None:
        """Serve's graceful shutdown: tell the collector this replica is gone."""
        with contextlib.suppress(Exception):
            self._pusher.cancel()
        with contextlib.suppress(Exception):
            if self._collector is not None:
                self._collector.push.remote({"replica_id": self.replica_id, "gone": True})


def _node_id() -> str:
    import ray

    try:
        return str(ray.get_runtime_context().get_node_id())
    except Exception:
        return ""


def _node_ip() -> str:
    import ray

    try:
        return str(ray.util.get_node_ip_address())
    except Exception:
        return ""
