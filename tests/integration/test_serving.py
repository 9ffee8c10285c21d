"""The inference server, run for real: replicas as subprocesses on free ports of 127.0.0.1.

Every status code of the HTTP contract, the service routes, batching parity under concurrent
load, images as base64 JSON and as multipart uploads, graceful shutdown, and ``lepton serve``
itself. The replicas start together (``python -m lepton.serving`` with LEPTON_SERVE_*, as the
control plane starts them) and each is stopped by its pid when the module's tests end. Every
load loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.services import LOOPBACK, free_ports, stop_pid

from lepton.security import generate_key, hash_key
from lepton.serving import ServerOptions
from lepton.serving._server import serve_env

pytestmark = pytest.mark.slow

COLUMNS = [f"f{i}" for i in range(20)]
LEPTON = shutil.which("lepton", path=str(Path(sys.executable).parent)) or "lepton"
START_TIMEOUT = 120.0  # a replica imports torch or sklearn; a busy 2-CPU machine is slow
REQUEST_TIMEOUT = 30.0


# models ----------------------------------------------------------------------------------------
def _table(rows: int = 400, seed: int = 0) -> Any:
    import pandas as pd

    import lepton

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(COLUMNS)))
    frame = pd.DataFrame(x, columns=COLUMNS)
    frame["label"] = (x @ rng.normal(size=len(COLUMNS)) > 0).astype(int)
    return lepton.Dataset.from_pandas(frame, target="label", name="serving-test")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serving")


@pytest.fixture(scope="module")
def bundles(folder: Path) -> dict[str, Path]:
    """Three trained bundles: a logistic regression and an MLP on 20 floats, a tiny CNN."""
    import lepton
    from lepton.testing import tiny_images

    table = _table()
    images = tiny_images(folder / "images", per_class=6)
    return {
        "logreg": lepton.save_model(
            lepton.create_model("logistic_regression").fit(table), folder / "logreg.lepton"
        ),
        "mlp": lepton.save_model(
            lepton.create_model("mlp", epochs=2).fit(table), folder / "mlp.lepton"
        ),
        "cnn": lepton.save_model(
            lepton.create_model("cnn", epochs=1).fit(images), folder / "cnn.lepton"
        ),
    }


def records(count: int, seed: int = 1) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    return [
        dict(zip(COLUMNS, map(float, row), strict=True)) for row in rng.normal(size=(count, 20))
    ]


# replicas --------------------------------------------------------------------------------------
@dataclass
class Replica:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    key: str | None
    ready: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, headers=self.headers, timeout=REQUEST_TIMEOUT, **kwargs
        )

    def predict(self, payload: Any, **kwargs: Any) -> httpx.Response:
        with self.client() as client:
            return client.post("/v1/predict", json=payload, **kwargs)

    def metrics(self) -> dict[str, float]:
        """The /metrics samples, parsed with prometheus_client's own parser."""
        from prometheus_client.parser import text_string_to_metric_families

        with self.client() as client:
            response = client.get("/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        samples = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return samples

    def wait_ready(self) -> Replica:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ready and time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"replica {self.name} exited at start:\n{tail(self.log)}")
            with contextlib.suppress(httpx.TransportError):
                self.ready = httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
            if not self.ready:
                time.sleep(0.1)
        if not self.ready:
            pytest.fail(f"replica {self.name} not ready in {START_TIMEOUT} s:\n{tail(self.log)}")
        return self


def tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(FileNotFoundError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")}
    env["LEPTON_HOME"] = str(home)
    return env


# name -> (bundle, with a key?, ServerOptions overrides)
REPLICAS: dict[str, tuple[str, bool, dict[str, Any]]] = {
    "logreg": ("logreg", True, {}),
    "mlp": ("mlp", False, {}),
    "cnn": ("cnn", False, {}),
    # one queued row at most, one row per model call in a worker thread: a burst overflows
    "tiny_queue": ("mlp", False, {"max_queue": 1, "max_batch_size": 1}),
    # the batcher holds each batch open 100 ms, far past the 1 ms timeout: always 504
    "timeout": ("logreg", False, {"request_timeout": 0.001, "max_wait_ms": 100}),
    # each request takes about 3 s (the batch is held open): one is in flight at SIGTERM
    "slow": ("logreg", False, {"max_wait_ms": 3000}),
}


@pytest.fixture(scope="module")
def fleet(bundles: dict[str, Path], folder: Path) -> Iterator[dict[str, Replica]]:
    """Every replica of REPLICAS, started at once; each is stopped by its pid at the end."""
    started: dict[str, Replica] = {}
    ports = free_ports(len(REPLICAS))
    try:
        for (name, (bundle, with_key, overrides)), port in zip(
            REPLICAS.items(), ports, strict=True
        ):
            key = generate_key() if with_key else None
            env = clean_env(folder / "home")
            env.update(
                serve_env(
                    bundles[bundle],
                    name,
                    1,
                    hash_key(key) if key else None,
                    ServerOptions(**overrides),
                )
            )
            env.update(LEPTON_SERVE_HOST=LOOPBACK, LEPTON_SERVE_PORT=str(port))
            log = folder / f"{name}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "lepton.serving"],
                    env=env,
                    cwd=folder,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            replica = Replica(name, process, port, log, key)
            if key:
                replica.headers["Authorization"] = f"Bearer {key}"
            started[name] = replica
        yield started
    finally:
        for replica in started.values():
            stop_pid(replica.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                replica.process.wait(5)


@pytest.fixture(scope="module")
def logreg(fleet: dict[str, Replica]) -> Replica:
    return fleet["logreg"].wait_ready()


@pytest.fixture(scope="module")
def mlp(fleet: dict[str, Replica]) -> Replica:
    return fleet["mlp"].wait_ready()


@pytest.fixture(scope="module")
def in_process(bundles: dict[str, Path]) -> dict[str, Any]:
    from lepton.models import load_model

    return {name: load_model(path) for name, path in bundles.items()}


# 200 and the service routes --------------------------------------------------------------------
def test_predict_matches_the_model_in_process(logreg: Replica, in_process: dict[str, Any]) -> None:
    rows = records(5)
    response = logreg.predict({"inputs": rows})
    assert response.status_code == 200, response.text
    answer = response.json()
    model = in_process["logreg"]
    assert answer["predictions"] == model.predict(rows).tolist()
    assert answer["classes"] == [0, 1]
    assert answer["model"] == "logreg" and answer["version"] == 1
    np.testing.assert_allclose(answer["probabilities"], model.predict_proba(rows), atol=1e-6)


def test_records_and_rows_give_the_same_answer(logreg: Replica) -> None:
    rows = records(7, seed=2)
    as_records = logreg.predict({"inputs": rows})
    as_rows = logreg.predict({"inputs": [[r[c] for c in COLUMNS] for r in rows]})
    assert as_records.status_code == as_rows.status_code == 200
    assert as_records.json() == as_rows.json()


def test_missing_values_are_imputed(logreg: Replica) -> None:
    row = {**records(1)[0], "f3": None}
    response = logreg.predict({"inputs": [row]})
    assert response.status_code == 200, response.text


def test_healthz_and_readyz(logreg: Replica) -> None:
    with httpx.Client(base_url=logreg.base, timeout=REQUEST_TIMEOUT) as client:  # no key
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "model": "logreg", "version": 1}


def test_model_info_needs_the_key(logreg: Replica) -> None:
    with httpx.Client(base_url=logreg.base, timeout=REQUEST_TIMEOUT) as anonymous:
        assert anonymous.get("/v1/model").status_code == 401
    with logreg.client() as client:
        info = client.get("/v1/model").json()
    assert info["name"] == "logreg" and info["task"] == "classification"
    assert [c["name"] for c in info["input_schema"]["columns"]] == COLUMNS
    assert info["batching"] == {"max_batch_size": 256, "max_wait_ms": 0.0}


def test_openapi_document_lists_the_model_columns(logreg: Replica) -> None:
    with httpx.Client(base_url=logreg.base, timeout=REQUEST_TIMEOUT) as client:
        spec = client.get("/openapi.json").json()
    assert isinstance(spec, dict) and spec["openapi"].startswith("3.")
    predict = spec["paths"]["/v1/predict"]["post"]
    assert predict["security"] == [{"bearer": []}]
    assert {"200", "400", "401", "413", "422", "429", "503", "504"} <= set(predict["responses"])
    request = spec["components"]["schemas"]["PredictRequest"]
    record = request["properties"]["inputs"]["items"]["anyOf"][0]
    assert list(record["properties"]) == COLUMNS
    assert record["required"] == COLUMNS


def test_docs_page_has_a_form_input_per_column(logreg: Replica) -> None:
    with httpx.Client(base_url=logreg.base, timeout=REQUEST_TIMEOUT) as client:
        page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for column in COLUMNS:
        assert re.search(rf'<input name="{column}" data-kind="numeric" type="number"', page.text)
    assert 'id="key"' in page.text  # the API key field, since this replica has a key


def test_metrics_parse_and_counters_move(logreg: Replica) -> None:
    with httpx.Client(base_url=logreg.base, timeout=REQUEST_TIMEOUT) as anonymous:
        assert anonymous.get("/metrics").status_code == 401
    before = logreg.metrics()
    for _ in range(3):
        assert logreg.predict({"inputs": records(2)}).status_code == 200
    assert logreg.predict({"inputs": [{"f0": 1.0}]}).status_code == 422
    after = logreg.metrics()
    ok, invalid = "lepton_requests_total{status=200}", "lepton_requests_total{status=422}"
    assert after[ok] - before.get(ok, 0) == 3
    assert after[invalid] - before.get(invalid, 0) == 1
    assert after["lepton_request_seconds_count"] - before["lepton_request_seconds_count"] == 4
    assert after["lepton_batch_size_sum"] - before["lepton_batch_size_sum"] == 6  # rows
    for name in ("lepton_queue_depth", "lepton_in_flight", "lepton_model_load_seconds"):
        assert name in after
    assert after["lepton_model_load_seconds"] > 0


# the error statuses ----------------------------------------------------------------------------
def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    return dict(error)


def test_400_for_a_body_that_is_not_json(logreg: Replica) -> None:
    with logreg.client() as client:
        response = client.post(
            "/v1/predict", content=b'{"inputs": [', headers={"content-type": "application/json"}
        )
    assert "not valid JSON" in error_of(response, 400, "invalid_json")["message"]


@pytest.mark.parametrize("authorization", [None, "Bearer lp_wrong", "Basic abc", "Bearer"])
def test_401_without_the_right_key(logreg: Replica, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.post(
        f"{logreg.base}/v1/predict",
        json={"inputs": records(1)},
        headers=headers,
        timeout=REQUEST_TIMEOUT,
    )
    error = error_of(response, 401, "unauthorized")
    assert "Authorization: Bearer" in error["message"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_404_and_405(logreg: Replica) -> None:
    with logreg.client() as client:
        missing = client.get("/v2/predict")
        wrong_method = client.put("/v1/predict", json={"inputs": records(1)})
    assert "No route GET /v2/predict" in error_of(missing, 404, "not_found")["message"]
    error_of(wrong_method, 405, "not_found")


def test_413_for_a_body_over_the_limit(logreg: Replica) -> None:
    body = b'{"inputs": [' + b" " * (1 << 20) + b"]}"  # 1 MiB + a few bytes, Content-Length
    with logreg.client() as client:
        declared = client.post(
            "/v1/predict", content=body, headers={"content-type": "application/json"}
        )
        # no Content-Length: chunked, the server counts as it reads
        chunked = client.post(
            "/v1/predict",
            content=iter([body[: 1 << 19], body[1 << 19 :]]),
            headers={"content-type": "application/json"},
        )
        still_fine = client.post("/v1/predict", json={"inputs": records(1)})
    assert "larger than 1048576 bytes" in error_of(declared, 413, "too_large")["message"]
    assert "transfer-encoding" not in declared.request.headers
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    error_of(chunked, 413, "too_large")
    assert still_fine.status_code == 200


def test_413_for_too_many_rows(logreg: Replica) -> None:
    response = logreg.predict({"inputs": [[0.0] * 20] * 1001})
    error = error_of(response, 413, "too_large")
    assert error["field"] == "inputs"
    assert "1001 rows is more than the 1000 allowed" in error["message"]


@pytest.mark.parametrize(
    ("item", "field_name", "message"),
    [
        ({c: 1.0 for c in COLUMNS if c != "f3"}, "f3", "missing field 'f3'"),
        (
            {**dict.fromkeys(COLUMNS, 1.0), "f2": "high"},
            "inputs[0].f2",
            "expected a number, got str",
        ),
        (
            {**dict.fromkeys(COLUMNS, 1.0), "f5": True},
            "inputs[0].f5",
            "expected a number, got bool",
        ),
        ({**dict.fromkeys(COLUMNS, 1.0), "bogus": 1}, "bogus", "unknown field 'bogus'"),
        ([1.0] * 19, "inputs[0]", "expected a row of 20 values"),
        ("text", "inputs[0]", "expected a record (object) or a row (list), got str"),
    ],
    ids=["missing", "wrong-type", "bool", "unknown", "row-length", "not-a-record"],
)
def test_422_names_the_field(logreg: Replica, item: Any, field_name: str, message: str) -> None:
    error = error_of(logreg.predict({"inputs": [item]}), 422, "invalid_input")
    assert error["field"] == field_name
    assert message in error["message"]


@pytest.mark.parametrize("payload", [[1, 2], {"rows": []}, {"inputs": []}, {"inputs": {}}])
def test_422_for_a_body_without_inputs(logreg: Replica, payload: Any) -> None:
    assert error_of(logreg.predict(payload), 422, "invalid_input")["field"] == "inputs"


def test_429_with_retry_after_when_the_queue_is_full(fleet: dict[str, Replica]) -> None:
    replica = fleet["tiny_queue"].wait_ready()
    # two rows never fit a queue of one row
    too_big = replica.predict({"inputs": records(2)})
    error = error_of(too_big, 429, "overloaded")
    assert too_big.headers["retry-after"] == "1" and "retry shortly" in error["message"]
    # a burst of single rows overflows it while the model thread is busy
    statuses = [status for status, _ in burst(replica, [records(1)[0]] * 64, concurrency=64)]
    assert set(statuses) <= {200, 429}
    assert statuses.count(429) > 0 and statuses.count(200) > 0
    assert replica.predict({"inputs": records(1)}).status_code == 200  # and it recovers


def test_504_when_the_prediction_takes_too_long(fleet: dict[str, Replica]) -> None:
    replica = fleet["timeout"].wait_ready()
    for _ in range(2):  # the server keeps answering after a timeout
        response = replica.predict({"inputs": records(1)})
        assert "longer than 0.001 s" in error_of(response, 504, "timeout")["message"]
    assert replica.metrics()["lepton_requests_total{status=504}"] == 2
    with replica.client() as client:
        assert client.get("/healthz").status_code == 200


def test_graceful_shutdown_finishes_in_flight_requests(
    fleet: dict[str, Replica], in_process: dict[str, Any]
) -> None:
    replica = fleet["slow"].wait_ready()
    rows = records(1, seed=3)
    with ThreadPoolExecutor(1) as pool, replica.client() as idle:
        assert idle.get("/healthz").status_code == 200  # a keep-alive connection, now idle
        in_flight = pool.submit(replica.predict, {"inputs": rows})
        deadline = time.monotonic() + 20
        while replica.metrics()["lepton_in_flight"] < 1:  # the batch is held open ~3 s
            assert time.monotonic() < deadline, "the slow request never arrived"
            time.sleep(0.02)
        os.kill(replica.pid, signal.SIGTERM)
        # a new request gets 503 until uvicorn stops accepting; then connections are refused,
        # while the request in flight is still held open
        try:
            refused = idle.post("/v1/predict", json={"inputs": rows})
        except httpx.TransportError:
            pass
        else:
            error = error_of(refused, 503, "shutting_down")
            assert refused.headers["retry-after"] == "1" and "shutting down" in error["message"]
        deadline = time.monotonic() + 10
        while True:
            try:
                late = httpx.post(f"{replica.base}/v1/predict", json={"inputs": rows}, timeout=5)
            except httpx.ConnectError:
                break
            assert late.status_code == 503, late.text
            assert time.monotonic() < deadline, "the server kept accepting connections"
            time.sleep(0.02)
        assert not in_flight.done()
        finished = in_flight.result(timeout=REQUEST_TIMEOUT)
    assert finished.status_code == 200, finished.text
    assert finished.json()["predictions"] == in_process["logreg"].predict(rows).tolist()
    # uvicorn re-raises the SIGTERM it caught once it has shut down cleanly
    assert replica.process.wait(timeout=20) in (0, -signal.SIGTERM)
    log = replica.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log


# batching --------------------------------------------------------------------------------------
def burst(
    replica: Replica, rows: list[Any], concurrency: int = 32, seconds: float = 60.0
) -> list[tuple[int, Any]]:
    """POST each row as its own request, ``concurrency`` at a time; (status, JSON) in order."""

    async def run() -> list[tuple[int, Any]]:
        limit = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=replica.base, headers=replica.headers, limits=limits, timeout=REQUEST_TIMEOUT
        ) as client:

            async def one(row: Any) -> tuple[int, Any]:
                async with limit:
                    response = await client.post("/v1/predict", json={"inputs": [row]})
                    return response.status_code, response.json()

            return await asyncio.wait_for(asyncio.gather(*(one(r) for r in rows)), seconds)

    return asyncio.run(run())


def batches_over_one(replica: Replica) -> tuple[float, float]:
    """(model calls, calls of exactly one row) so far, from /metrics."""
    samples = replica.metrics()
    return samples["lepton_batch_size_count"], samples["lepton_batch_size_bucket{le=1}"]


@pytest.mark.parametrize("name", ["logreg", "mlp"])
def test_batched_answers_equal_one_at_a_time_answers(fleet: dict[str, Replica], name: str) -> None:
    replica = fleet[name].wait_ready()
    rows = records(200, seed=4)
    one_by_one = []
    with replica.client() as client:
        for row in rows:
            response = client.post("/v1/predict", json={"inputs": [row]})
            assert response.status_code == 200
            one_by_one.append(response.json())
    calls_before, singles_before = batches_over_one(replica)
    together = burst(replica, rows, concurrency=32)
    calls, singles = batches_over_one(replica)
    assert [status for status, _ in together] == [200] * len(rows)
    assert calls - calls_before < len(rows), "no two requests shared a model call"
    assert (calls - calls_before) - (singles - singles_before) > 0  # batches of 2+ rows ran
    for alone, (_, batched) in zip(one_by_one, together, strict=True):
        assert batched["predictions"] == alone["predictions"]
        if name == "logreg":  # row-wise numpy arithmetic: bit for bit
            assert batched["probabilities"] == alone["probabilities"]
        else:  # torch may sum in another order for another batch size
            np.testing.assert_allclose(batched["probabilities"], alone["probabilities"], atol=1e-6)


# images ----------------------------------------------------------------------------------------
def test_image_as_base64_json_and_as_multipart_upload(
    fleet: dict[str, Replica], folder: Path, in_process: dict[str, Any]
) -> None:
    replica = fleet["cnn"].wait_ready()
    png = (folder / "images" / "class1" / "img0.png").read_bytes()
    encoded = base64.b64encode(png).decode()
    as_json = replica.predict({"inputs": [{"image": encoded}]})
    as_string = replica.predict({"inputs": [encoded]})
    with replica.client() as client:
        as_upload = client.post("/v1/predict", files={"image": ("img0.png", png, "image/png")})
        two_uploads = client.post(
            "/v1/predict",
            files=[("image", ("a.png", png, "image/png")), ("image", ("b.png", png, "image/png"))],
        )
        bad = client.post("/v1/predict", json={"inputs": [{"image": "not base64!"}]})
    for response in (as_json, as_string, as_upload, two_uploads):
        assert response.status_code == 200, response.text
    assert as_json.json() == as_string.json() == as_upload.json()
    assert two_uploads.json()["predictions"] == as_json.json()["predictions"] * 2
    from PIL import Image

    model = in_process["cnn"]
    image = Image.open(folder / "images" / "class1" / "img0.png")
    assert as_json.json()["predictions"] == model.predict([image]).tolist()
    assert error_of(bad, 422, "invalid_input")["field"] == "inputs[0].image"


# lepton serve ----------------------------------------------------------------------------------
def listening_addresses(port: int) -> set[str]:
    """The IPv4/IPv6 addresses with a socket listening on ``port``, from /proc/net/tcp*."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as handle:
            for line in handle.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, _, hex_port = local.partition(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    if len(address) == 8:
                        found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                    else:
                        found.add(address)
    return found


def test_lepton_serve_prints_the_key_once_and_binds_loopback(
    bundles: dict[str, Path], folder: Path
) -> None:
    port = free_ports(1)[0]
    log = folder / "lepton-serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [LEPTON, "serve", str(bundles["logreg"]), "--port", str(port)],
            env=clean_env(folder / "home"),
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        replica = Replica("lepton-serve", process, port, log, None).wait_ready()
        text = log.read_text()
        match = re.search(r"API key \(shown once\): (lp_\S+)", text)
        assert match, text
        key = match.group(1)
        assert text.count(key) == 1
        assert f"Serving logreg at http://127.0.0.1:{port}" in text
        with open(f"/proc/{process.pid}/environ", "rb") as handle:
            assert key.encode() not in handle.read()  # only its hash is handed to the app
        assert listening_addresses(port) == {"127.0.0.1"}
        body = {"inputs": records(1)}
        url = f"{replica.base}/v1/predict"
        assert httpx.post(url, json=body, timeout=REQUEST_TIMEOUT).status_code == 401
        authorized = httpx.post(
            url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=REQUEST_TIMEOUT
        )
        assert authorized.status_code == 200
    finally:
        stop_pid(process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
    assert log.read_text().count(key) == 1  # not repeated at shutdown either


def test_lepton_serve_refuses_a_public_address_without_expose(
    bundles: dict[str, Path], folder: Path
) -> None:
    out = subprocess.run(
        [LEPTON, "serve", str(bundles["logreg"]), "--host", "0.0.0.0", "--port", "1"],
        env={**clean_env(folder / "home"), "COLUMNS": "200", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    message = " ".join((out.stdout + out.stderr).split())
    assert "Binding to '0.0.0.0' exposes the server beyond this machine" in message
    assert "--expose" in message
    assert "API key (shown once)" not in message  # refused before any key is made


def test_every_replica_binds_loopback_only(fleet: dict[str, Replica]) -> None:
    for replica in fleet.values():
        if replica.process.poll() is None and replica.ready:
            assert listening_addresses(replica.port) == {"127.0.0.1"}, replica.name


def test_json_errors_are_json(logreg: Replica) -> None:
    """Every refusal is the same JSON shape, so clients parse one thing."""
    with logreg.client() as client:
        for response in (client.get("/nope"), client.post("/v1/predict", content=b"[")):
            assert set(json.loads(response.content)) == {"error"}
