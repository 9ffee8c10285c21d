"""The inference server: a lean ASGI app around one model.

Why raw ASGI rather than FastAPI: measured on this kind of machine, FastAPI tops out near
2,800 requests/s on a one-row predict while a plain ASGI handler with batching passes
15,000. The contract is the same one a FastAPI app would have: JSON in and out, a generated
OpenAPI document (/openapi.json) and a form at /docs, both from the model's input schema.

Routes: POST /v1/predict, GET /v1/model, /healthz, /readyz, /metrics, /openapi.json, /docs,
and GET /v1/samples (recent inputs for drift analysis; control-plane token only).
"""

from __future__ import annotations

import os
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from lepton.security import bearer, key_matches
from lepton.serving._batcher import Batcher, QueueFull
from lepton.serving._metrics import ServerMetrics
from lepton.serving._predictor import Predictor
from lepton.serving._schema import RequestError, RequestSchema

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]


@dataclass
class ServerOptions:
    """Limits and switches of one server. Defaults were chosen by measurement (docs/serving.md)."""

    max_batch_size: int = 256
    max_wait_ms: float = 0.0
    max_queue: int = 4096  # rows waiting; beyond it requests get 429
    max_body_bytes: int = 1 << 20  # 1 MiB; beyond it 413
    max_rows_per_request: int = 1000
    request_timeout: float = 10.0  # seconds; beyond it 504
    sample_rate: float = 0.1  # share of requests kept for drift analysis
    sample_capacity: int = 2000  # rows kept in memory at most


class InferenceApp:
    """Serve ``model``. ``key_hash``: the API key's SHA-256 (None: public)."""

    def __init__(
        self,
        model: Any,
        *,
        name: str,
        version: int | str | None,
        key_hash: str | None,
        options: ServerOptions | None = None,
        internal_token_hash: str | None = None,
        load_seconds: float = 0.0,
    ) -> None:
        self.options = options or ServerOptions()
        self.model = model
        self.name = name
        self.version = version
        self.key_hash = key_hash
        self.internal_token_hash = internal_token_hash
        self.schema = RequestSchema(
            model.input_schema or {}, max_rows=self.options.max_rows_per_request
        )
        self.predictor = Predictor(model)
        self.metrics = ServerMetrics()
        self.metrics.model_load_seconds = load_seconds
        self.batcher = Batcher(
            self.predictor.predict,
            max_batch_size=self.options.max_batch_size,
            max_wait_ms=self.options.max_wait_ms,
            max_queue=self.options.max_queue,
            in_thread=model.family == "torch",
            on_batch=self.metrics.record_batch,
            timeout=self.options.request_timeout,
        )
        self.metrics.queue_depth = lambda: self.batcher.queued_rows
        self.samples: deque[dict[str, Any]] = deque(maxlen=self.options.sample_capacity)
        self.ready = False
        self.shutting_down = False
        self._classes = list(self.predictor.classes)
        self._routes: dict[
            tuple[str, str], Callable[[dict[str, Any], Receive, Send], Awaitable[None]]
        ] = {
            ("GET", "/healthz"): self._healthz,
            ("GET", "/readyz"): self._readyz,
            ("GET", "/metrics"): self._metrics,
            ("GET", "/v1/model"): self._model_info,
            ("GET", "/v1/samples"): self._samples,
            ("GET", "/openapi.json"): self._openapi,
            ("GET", "/docs"): self._docs,
        }

    # ASGI ---------------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if scope["path"] == "/v1/predict" and scope["method"] == "POST":
                await self._predict(scope, receive, send)
                return
            route = self._routes.get((scope["method"], scope["path"]))
            if route is None:
                await _error(
                    send,
                    404 if scope["method"] in ("GET", "POST") else 405,
                    "not_found",
                    f"No route {scope['method']} {scope['path']}; see /docs.",
                )
                return
            await route(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.model.family == "torch":
                    _leave_a_cpu_to_the_event_loop()
                self.batcher.start()
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.ready = False
                await self.batcher.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # the hot path ---------------------------------------------------------------------------------
    async def _predict(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        metrics = self.metrics
        metrics.in_flight += 1
        status = 200
        try:
            if self.shutting_down:
                status = 503
                await _error(
                    send,
                    503,
                    "shutting_down",
                    "The server is shutting down; retry on another replica.",
                    [(b"retry-after", b"1")],
                )
                return
            content_type = b""
            authorization = None
            for key, value in scope["headers"]:
                if key == b"authorization":
                    authorization = value
                elif key == b"content-type":
                    content_type = value
                elif key == b"content-length" and int(value) > self.options.max_body_bytes:
                    status = 413
                    await _error(
                        send,
                        413,
                        "too_large",
                        f"The body is larger than {self.options.max_body_bytes} bytes; split the request.",
                    )
                    return
            if not self._may_predict(authorization):
                status = 401
                await _error(
                    send,
                    401,
                    "unauthorized",
                    "Missing or wrong API key: send Authorization: Bearer <key>.",
                    [(b"www-authenticate", b"Bearer")],
                )
                return
            body = await self._body(receive)
            if body is None:
                status = 413
                await _error(
                    send,
                    413,
                    "too_large",
                    f"The body is larger than {self.options.max_body_bytes} bytes; split the request.",
                )
                return
            try:
                if content_type.startswith(b"multipart/form-data"):
                    from lepton.serving._multipart import images_from_multipart

                    rows = self.schema.rows({"inputs": images_from_multipart(content_type, body)})
                else:
                    rows = self.schema.rows(orjson.loads(body))
            except orjson.JSONDecodeError as exc:
                status = 400
                await _error(send, 400, "invalid_json", f"The body is not valid JSON: {exc}.")
                return
            except RequestError as exc:
                status = exc.status
                await _error(
                    send,
                    exc.status,
                    "invalid_input" if exc.status == 422 else "too_large",
                    exc.message,
                    field=exc.field,
                )
                return
            try:
                future = self.batcher.submit(rows)
            except QueueFull:
                status = 429
                await _error(
                    send,
                    429,
                    "overloaded",
                    "Too many requests are waiting; retry shortly.",
                    [(b"retry-after", b"1")],
                )
                return
            try:
                predictions, probabilities = await future  # the batcher enforces the timeout
            except TimeoutError:
                status = 504
                await _error(
                    send,
                    504,
                    "timeout",
                    f"The prediction took longer than {self.options.request_timeout} s.",
                )
                return
            except Exception as exc:  # the model failed on this input; the replica lives on
                status = 500
                await _error(
                    send,
                    500,
                    "prediction_failed",
                    f"The model failed on this input: {type(exc).__name__}: {exc}",
                )
                return
            response: dict[str, Any] = {
                "predictions": predictions,
                "model": self.name,
                "version": self.version,
            }
            if probabilities is not None:
                response["probabilities"] = probabilities
                response["classes"] = self._classes
            await send({"type": "http.response.start", "status": 200, "headers": _JSON})
            await send(
                {
                    "type": "http.response.body",
                    "body": orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY),
                }
            )
            if self.options.sample_rate and random.random() < self.options.sample_rate:
                self.samples.append(
                    {
                        "time": time.time(),
                        "inputs": rows if self.schema.kind != "images" else [],
                        "predictions": predictions,
                    }
                )
        finally:
            metrics.in_flight -= 1
            metrics.record(status, time.perf_counter() - started)

    async def _body(self, receive: Receive) -> bytes | None:
        message = await receive()
        body = message.get("body", b"")
        if not message.get("more_body"):
            return body
        parts, size, limit = [body], len(body), self.options.max_body_bytes
        while message.get("more_body"):
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            parts.append(chunk)
        return b"".join(parts)

    def _may_predict(self, authorization: bytes | None) -> bool:
        """The deployment's key, or the control plane's token: the team server forwards the
        dashboard's "try it" predictions with it, as it knows only the key's hash."""
        if self.key_hash is None:
            return True
        token = bearer(authorization)
        if key_matches(token, self.key_hash):
            return True
        return self.internal_token_hash is not None and key_matches(token, self.internal_token_hash)

    # the other routes -----------------------------------------------------------------------------
    def _allowed(self, scope: dict[str, Any], internal_only: bool = False) -> bool:
        token = bearer(dict(scope["headers"]).get(b"authorization"))
        if self.internal_token_hash is not None and key_matches(token, self.internal_token_hash):
            return True
        if internal_only:
            return False
        return self.key_hash is None or key_matches(token, self.key_hash)

    async def _healthz(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await _json(send, 200, {"status": "ok"})

    async def _readyz(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        ready = self.ready and not self.shutting_down
        await _json(
            send,
            200 if ready else 503,
            {"ready": ready, "model": self.name, "version": self.version},
        )

    async def _metrics(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if not self._allowed(scope):
            await _error(
                send, 401, "unauthorized", "Send Authorization: Bearer <key> to read metrics."
            )
            return
        body = self.metrics.render().encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain; version=0.0.4")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _model_info(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if not self._allowed(scope):
            await _error(send, 401, "unauthorized", "Send Authorization: Bearer <key>.")
            return
        await _json(
            send,
            200,
            {
                "name": self.name,
                "version": self.version,
                "model": self.model.name,
                "task": self.model.task,
                "classes": self._classes,
                "input_schema": self.model.input_schema,
                "request_schema": self.schema.request_schema(),
                "batching": {
                    "max_batch_size": self.options.max_batch_size,
                    "max_wait_ms": self.options.max_wait_ms,
                },
            },
        )

    async def _samples(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if not self._allowed(scope, internal_only=True):
            await _error(send, 403, "forbidden", "Samples are for the control plane only.")
            return
        taken = list(self.samples)
        self.samples.clear()
        await _json(send, 200, {"columns": self.schema.columns, "samples": taken})

    async def _openapi(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        from lepton.serving._docs import openapi

        await _json(send, 200, openapi(self))

    async def _docs(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        from lepton.serving._docs import docs_page

        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": docs_page(self).encode()})


def _leave_a_cpu_to_the_event_loop() -> None:
    """Cap torch's intra-op threads at one fewer than the usable CPUs (at least one).

    Torch starts one intra-op thread per core, and they spin between calls; in a server they
    compete with the event loop and the predict thread for the same cores. Measured on a
    2-CPU machine, the MLP of bench/serving.py served about 900 requests/s at 64 clients with
    the default (the server's threads runnable but waiting 150 % of the time) against about
    5,500 with one intra-op thread. A process that sets OMP_NUM_THREADS keeps its choice.
    """
    if "OMP_NUM_THREADS" in os.environ:
        return
    import torch

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, (usable or 1) - 1))


async def _json(
    send: Send, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": _JSON + (headers or [])}
    )
    await send({"type": "http.response.body", "body": orjson.dumps(data)})


async def _error(
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    field: str | None = None,
) -> None:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    await _json(send, status, {"error": error}, headers)
