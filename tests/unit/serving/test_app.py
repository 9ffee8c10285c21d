"""The ASGI app called in-process: lifespan, shutting down, samples, metrics text."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

import lepton
from lepton.security import hash_key
from lepton.serving import InferenceApp, ServerOptions
from lepton.serving._metrics import ServerMetrics
from lepton.testing import tiny_table


@pytest.fixture(scope="module")
def model() -> Any:
    return lepton.create_model("logistic_regression").fit(tiny_table())


def make_app(model: Any, **options: Any) -> InferenceApp:
    return InferenceApp(
        model,
        name="tiny",
        version=3,
        key_hash=hash_key("secret"),
        internal_token_hash=hash_key("internal"),
        options=ServerOptions(**options),
    )


async def call(
    app: InferenceApp, method: str, path: str, body: Any = None, token: str | None = "secret"
) -> tuple[int, dict[str, bytes], Any]:
    headers = [(b"content-type", b"application/json")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    raw = orjson.dumps(body) if body is not None else b""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, content = sent[0], sent[1]["body"]
    is_json = dict(start["headers"]).get(b"content-type") == b"application/json"
    return start["status"], dict(start["headers"]), orjson.loads(content) if is_json else content


async def lifespan(app: InferenceApp) -> tuple[asyncio.Queue[dict[str, Any]], asyncio.Task[None]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    return inbox, task


RECORD = {"x1": 0.5, "x2": None, "color": "red"}


def test_ready_only_between_startup_and_shutdown(model: Any) -> None:
    async def scenario() -> None:
        app = make_app(model)
        assert (await call(app, "GET", "/readyz"))[0] == 503
        inbox, task = await lifespan(app)
        status, _, body = await call(app, "GET", "/readyz")
        assert status == 200 and body == {"ready": True, "model": "tiny", "version": 3}
        assert (await call(app, "POST", "/v1/predict", {"inputs": [RECORD]}))[0] == 200
        app.shutting_down = True  # what SIGTERM does first
        assert (await call(app, "GET", "/readyz"))[0] == 503
        status, headers, body = await call(app, "POST", "/v1/predict", {"inputs": [RECORD]})
        assert status == 503 and headers[b"retry-after"] == b"1"
        assert body["error"]["code"] == "shutting_down"
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 5)
        assert not app.ready

    asyncio.run(scenario())


def test_samples_are_for_the_control_plane_only(model: Any) -> None:
    async def scenario() -> None:
        app = make_app(model, sample_rate=1.0)
        inbox, task = await lifespan(app)
        for _ in range(3):
            assert (await call(app, "POST", "/v1/predict", {"inputs": [RECORD]}))[0] == 200
        assert (await call(app, "GET", "/v1/samples"))[0] == 403  # the user's key is not enough
        status, _, body = await call(app, "GET", "/v1/samples", token="internal")
        assert status == 200 and body["columns"] == ["x1", "x2", "color"]
        assert [s["inputs"] for s in body["samples"]] == [[[0.5, None, "red"]]] * 3
        assert (await call(app, "GET", "/v1/samples", token="internal"))[2]["samples"] == []
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())


def test_a_public_app_needs_no_key(model: Any) -> None:
    async def scenario() -> None:
        app = InferenceApp(model, name="tiny", version=None, key_hash=None)
        inbox, task = await lifespan(app)
        status, _, body = await call(app, "POST", "/v1/predict", {"inputs": [RECORD]}, token=None)
        assert status == 200 and body["classes"] == ["no", "yes"]
        assert (await call(app, "GET", "/metrics", token=None))[0] == 200
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())


def test_metrics_text_is_prometheus() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    metrics = ServerMetrics()
    for status, seconds in ((200, 0.0004), (200, 0.003), (422, 0.2)):
        metrics.record(status, seconds)
    metrics.record_batch(3, 0.001)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render())}
    assert families["lepton_requests"].type == "counter"
    by_status = {s.labels["status"]: s.value for s in families["lepton_requests"].samples}
    assert by_status == {"200": 2, "422": 1}
    buckets = [
        (s.labels["le"], s.value)
        for s in families["lepton_request_seconds"].samples
        if s.name.endswith("_bucket")
    ]
    assert buckets[0] == ("0.0005", 1) and buckets[-1] == ("+Inf", 3)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    batch = {s.name: s.value for s in families["lepton_batch_size"].samples if "le" not in s.labels}
    assert batch == {"lepton_batch_size_sum": 3, "lepton_batch_size_count": 1}


def test_a_torch_server_leaves_a_cpu_to_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import torch

    from lepton.serving._app import _leave_a_cpu_to_the_event_loop

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        torch.set_num_threads(3)
        _leave_a_cpu_to_the_event_loop()
        assert torch.get_num_threads() == 3  # an explicit choice is kept
        monkeypatch.delenv("OMP_NUM_THREADS")
        _leave_a_cpu_to_the_event_loop()
        assert torch.get_num_threads() == max(1, len(os.sched_getaffinity(0)) - 1)
    finally:
        torch.set_num_threads(before)
