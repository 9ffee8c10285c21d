"""``lepton.Client`` against a real ``lepton serve`` process: answers, typed errors, retries,
timeouts, and a token that never shows.

Busy servers (429, 503 with Retry-After) are played by a small real HTTP server on 127.0.0.1
that answers a given sequence of statuses: a real model server only says 503 while it shuts
down and 429 when its queue is full, which a test cannot time reliably.
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import lepton
from lepton.deployments import (
    InvalidInputError,
    OverloadedError,
    ServingError,
    UnauthorizedError,
    UnavailableError,
)
from lepton.errors import LeptonError

LEPTON = shutil.which("lepton", path=str(Path(sys.executable).parent)) or "lepton"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class Server:
    url: str
    key: str
    records: list[dict[str, Any]]
    model: Any
    refused_at_first: bool  # when the early client below made its first call
    early: threading.Thread  # a client that called before the server listened
    early_result: dict[str, Any]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``lepton serve`` of a small logistic regression. A client starts calling it in a thread
    as soon as its key is printed, before the server has loaded the model and listens."""
    from lepton.demo._credit import credit_table
    from lepton.models import save_model

    root = tmp_path_factory.mktemp("client")
    data = lepton.Dataset.from_pandas(credit_table(rows=400), target="default", name="credit")
    data = data.exclude_features("sex", "age_group")
    model = lepton.create_model("logistic_regression").fit(data)  # untracked: no workspace
    bundle = save_model(model, root / "credit.lepton")
    records = data.X().head(20).replace({float("nan"): None}).to_dict(orient="records")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")},
        "LEPTON_HOME": str(root / "home"),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [LEPTON, "serve", str(bundle), "--port", str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout or []], daemon=True
    )
    reader.start()
    early_result: dict[str, Any] = {}
    early = threading.Thread(target=lambda: None)
    try:
        key, seen, deadline = None, [], time.time() + 90
        while key is None and time.time() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert process.poll() is None, "".join(seen)
                continue
            seen.append(line)
            if line.startswith("API key (shown once): "):
                key = line.split(": ", 1)[1].strip()
        assert key, f"no API key printed within 90 s: {''.join(seen)}"

        def call_early() -> None:
            started = time.time()
            try:
                with lepton.Client(url, key, retries=9) as client:  # backoffs for ~50 s
                    early_result["answer"] = client.predict(records[:3])
            except Exception as exc:  # reported by the test that checks it
                early_result["error"] = exc
            early_result["seconds"] = time.time() - started

        refused_at_first = refuses(port)
        early = threading.Thread(target=call_early, daemon=True)
        early.start()
        wait_until_healthy(url, process, deadline=time.time() + 90)
        yield Server(url, key, records, model, refused_at_first, early, early_result)
    finally:
        early.join(timeout=60)
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        reader.join(timeout=5)


def wait_until_healthy(url: str, process: subprocess.Popen[str], deadline: float) -> None:
    import httpx

    while time.time() < deadline:
        assert process.poll() is None, f"lepton serve exited with {process.returncode}"
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} was not healthy in time")


def test_predictions_from_records_and_rows(server: Server) -> None:
    import pandas as pd

    with lepton.Client(server.url, server.key) as client:
        labels = client.predict(server.records)
        full = client.predict_full(server.records[:2])
        rows = client.predict([list(r.values()) for r in server.records])
        probabilities = client.predict_proba(server.records)
        info = client.model_info()
    expected = server.model.predict(pd.DataFrame(server.records).fillna(float("nan")))
    assert labels == rows == list(expected)
    assert set(full) >= {"predictions", "probabilities", "classes", "model", "version"}
    assert full["model"] == "credit" and full["classes"] == ["no", "yes"]
    assert all(abs(sum(p) - 1) < 1e-6 for p in probabilities)
    assert info["name"] == "credit" and info["classes"] == ["no", "yes"]
    assert [c["name"] for c in info["input_schema"]["columns"]] == list(server.records[0])


def test_a_missing_or_wrong_key_is_unauthorized(server: Server) -> None:
    for token in (None, "lp_not-the-key"):
        with lepton.Client(server.url, token, retries=0) as client:
            with pytest.raises(UnauthorizedError, match="401: Missing or wrong API key") as info:
                client.predict(server.records[:1])
            assert info.value.status == 401 and info.value.code == "unauthorized"
            with pytest.raises(UnauthorizedError, match="401"):
                client.model_info()
    assert issubclass(UnauthorizedError, ServingError)
    assert issubclass(ServingError, LeptonError) and issubclass(ServingError, RuntimeError)


def test_invalid_input_names_the_field(server: Server) -> None:
    record = dict(server.records[0])
    with lepton.Client(server.url, server.key, retries=0) as client:
        with pytest.raises(
            InvalidInputError, match="422: inputs\\[1\\].income: expected a number"
        ) as bad:
            client.predict([record, {**record, "income": "a lot"}])
        assert (bad.value.status, bad.value.field) == (422, "inputs[1].income")

        missing = {k: v for k, v in record.items() if k != "loan_amount"}
        with pytest.raises(InvalidInputError, match="missing field 'loan_amount'") as gone:
            client.predict([missing])
        assert (gone.value.status, gone.value.field) == (422, "loan_amount")

        with pytest.raises(InvalidInputError, match="1001 rows is more than the 1000") as big:
            client.predict([record] * 1001)
        assert (big.value.status, big.value.field) == (413, "inputs")


def test_an_address_that_refuses_gives_unavailable_after_the_retries() -> None:
    port = free_port()
    started = time.time()
    client = lepton.Client(f"http://127.0.0.1:{port}", "lp_x", retries=3)
    with (
        client,
        pytest.raises(UnavailableError, match=f"Cannot reach http://127.0.0.1:{port}") as info,
    ):
        client.predict([{"x": 1}])
    assert info.value.status == 0
    assert time.time() - started >= 0.1 + 0.2 + 0.4  # three backoffs, doubling


def test_a_server_that_does_not_answer_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.time()
        client = lepton.Client(url, "lp_x", timeout=0.5, retries=3)
        with client, pytest.raises(ServingError, match="did not answer within the timeout"):
            client.predict([{"x": 1}])
    assert time.time() - started < 5  # a timeout is not retried


class Busy:
    """A real HTTP server on 127.0.0.1 that answers ``statuses`` in turn (then 200 with one
    prediction), with the given Retry-After."""

    def __init__(self, statuses: list[int], retry_after: str | None = "0") -> None:
        pending = list(statuses)
        self.times: list[float] = []
        times = self.times

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                times.append(time.time())
                status = pending.pop(0) if pending else 200
                body = (
                    {"predictions": ["no"], "model": "busy", "version": 1}
                    if status == 200
                    else {"error": {"code": "busy", "message": f"busy ({status})"}}
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                if retry_after is not None and status != 200:
                    self.send_header("retry-after", retry_after)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Busy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_503_and_429_are_retried_until_an_answer() -> None:
    with Busy([503, 429, 503]) as busy, lepton.Client(busy.url, "lp_x", retries=3) as client:
        assert client.predict([{"x": 1}]) == ["no"]
    assert len(busy.times) == 4


def test_retries_run_out_with_the_status_of_the_last_answer() -> None:
    def fail(statuses: list[int], retries: int, error: type[ServingError], match: str) -> Busy:
        with Busy(statuses) as busy:
            client = lepton.Client(busy.url, "lp_x", retries=retries)
            with client, pytest.raises(error, match=match) as info:
                client.predict([{"x": 1}])
        assert type(info.value) is error and info.value.status == statuses[0]
        return busy

    assert len(fail([503, 503, 503], 2, UnavailableError, r"503: busy \(503\)").times) == 3
    assert len(fail([429], 0, OverloadedError, "429: busy").times) == 1
    assert len(fail([500], 3, ServingError, "500: busy").times) == 1  # a 500 is not retried


def test_retry_after_is_honoured_and_an_http_date_falls_back_to_the_backoff() -> None:
    with Busy([503], retry_after="0.5") as busy, lepton.Client(busy.url, "lp_x") as client:
        client.predict([{"x": 1}])
    assert busy.times[1] - busy.times[0] >= 0.45
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    with Busy([503, 429], retry_after=date) as busy, lepton.Client(busy.url, "lp_x") as client:
        assert client.predict([{"x": 1}]) == ["no"]
    assert busy.times[-1] - busy.times[0] < 2  # 0.1 s, then 0.2 s


def test_repr_never_shows_the_token(server: Server) -> None:
    client = lepton.Client(server.url + "/", server.key)
    try:
        assert repr(client) == f"Client({server.url!r})"
        assert server.key not in repr(client) and server.key not in str(client)
    finally:
        client.close()


def test_a_client_started_before_the_server_retries_until_it_answers(server: Server) -> None:
    # last in the file: the early client has had time to see the server come up
    server.early.join(timeout=60)
    assert server.refused_at_first  # so it did have to retry
    assert "error" not in server.early_result, server.early_result.get("error")
    answer = server.early_result["answer"]
    assert len(answer) == 3 and set(answer) <= {"yes", "no"}
    assert server.early_result["seconds"] > 0.1  # at least one backoff
