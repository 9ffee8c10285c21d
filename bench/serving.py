"""Serving throughput and latency: Lepton's server against bare FastAPI and a no-op ASGI app.

DESIGN.md §6 and the serving issue ask, in one run on one machine and on the same model, for
Lepton's inference server (one process) at 64 concurrent clients to reach at least 3x the
throughput of a bare FastAPI + uvicorn endpoint that calls ``model.predict`` per request, with
a p99 no worse, and at least 0.5x the throughput of a no-op ASGI app (the HTTP ceiling of one
Python process here). At batch 1 with no concurrency the server may add at most 1 ms at p50
over the in-process ``model.predict`` of the same row.

The script trains two models with the SDK on generated data (20 float columns f0..f19 and a
binary label): a logistic regression and the torch MLP, saves each as a bundle, and for each
model measures three servers, each a subprocess on a free 127.0.0.1 port:

(a) ``lepton serve BUNDLE`` with an API key (auth on, the default; the key is sent in the
    Authorization header by the load generator);
(b) a bare FastAPI app (an ``async def`` endpoint with a pydantic body, loading the same
    bundle with ``lepton.models.load_model`` and calling ``model.predict(records)``);
(b2) for reference, the same FastAPI app calling Lepton's ``Predictor`` (the fast numpy/torch
    path the server uses) instead of ``model.predict``: it separates what the server gains from
    its HTTP layer and batching from what it gains from a faster model call;
(c) a no-op ASGI app returning a fixed small JSON: the HTTP ceiling (it has no model; it
    runs all along and is measured beside each model's servers).

All run under uvicorn with the same settings (uvloop, httptools, access log off, no server
header, one worker). Once it answers, every thread of the server is pinned to CPU 0 and the
load generator runs on CPU 1 (``taskset``) so they do not fight (on a machine with fewer than
2 CPUs nothing is pinned, and the output says so). The servers of one model and the no-op app
run side by side (idle ones cost nothing) and are measured in turn, ``--repeat`` rounds, so
drift in the machine's speed hits all alike; each cell reports the median of its rounds. Load
comes from ``wrk`` (one thread, a Lua script that POSTs one record with the key) at each
concurrency for a bounded time after a 2 s warm-up; wrk's non-2xx and socket errors are
reported beside the numbers, never hidden. Before each load the server must
answer 200 with the predictions of the in-process model.

Batch-1 latency: 2,000 sequential requests on one keep-alive connection from a raw-socket
client (pinned to CPU 1), whose p50 is compared with the p50 of the in-process
``model.predict`` of one record (the target), and with the p50 of the server's own compute
path (``Predictor.predict`` of one row: the cost of HTTP, auth, validation and batching alone).

``--sweep`` also measures Lepton at c=64 with ``--max-wait-ms`` 0, 0.5, 2 and
``--max-batch-size`` 64, 256: how the defaults were chosen.

Usage: ``.venv/bin/python bench/serving.py [--duration 8] [--repeat 1] [--sweep]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "serving.json"
VENV_BIN = Path(sys.executable).parent
TARGET_VS_FASTAPI = 3.0  # Lepton / bare FastAPI throughput at c=64
TARGET_VS_NOOP = 0.5  # Lepton / no-op ASGI throughput at c=64
TARGET_ADDED_MS = 1.0  # added p50 latency at batch 1 over in-process predict
COLUMNS = [f"f{i}" for i in range(20)]
MODELS = {"logreg": ("logistic_regression", {}), "mlp": ("mlp", {"epochs": 2})}
SWEEP = [(0.0, 256), (0.5, 256), (2.0, 256), (0.0, 64), (0.5, 64), (2.0, 64)]
START_TIMEOUT_S = 300.0  # a dozen servers importing torch on a busy 2-CPU machine take minutes
STOP_TIMEOUT_S = 15.0

FASTAPI_APP = '''
"""A bare FastAPI endpoint around the same bundle: what a user would write by hand."""
import os

from fastapi import FastAPI
from pydantic import BaseModel

from lepton.models import load_model

model = load_model(os.environ["BENCH_BUNDLE"])
app = FastAPI()

if os.environ.get("BENCH_PREDICTOR"):  # (b2) the server's fast path, no batching
    from lepton.serving._predictor import Predictor

    predictor = Predictor(model)
    columns = [c["name"] for c in model.input_schema["columns"]]

    def predict(records):
        return predictor.predict([[r[c] for c in columns] for r in records])[0]
else:  # (b) model.predict per request

    def predict(records):
        return model.predict(records).tolist()


class Body(BaseModel):
    inputs: list[dict[str, float | None]]


@app.post("/v1/predict")
async def endpoint(body: Body) -> dict:
    return {"predictions": predict(body.inputs)}
'''

NOOP_APP = '''
"""The HTTP ceiling: an ASGI app that reads the body and returns a fixed small JSON."""
BODY = b'{"predictions":[1]}'
HEADERS = [(b"content-type", b"application/json")]


async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        return
    message = await receive()
    while message.get("more_body"):
        message = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
'''

LUA = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{auth}
"""


# processes ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Pinning:
    server: list[str]
    client: list[str]
    client_cpus: set[int] | None
    note: str


def pinning() -> Pinning:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2 and shutil.which("taskset"):
        server, client = cpus[0], cpus[1]
        return Pinning(
            ["taskset", "-c", str(server)],
            ["taskset", "-c", str(client)],
            {client},
            f"server pinned to CPU {server}, load generator to CPU {client} (taskset), "
            f"{len(cpus)} CPUs",
        )
    return Pinning([], [], None, f"{len(cpus)} CPU(s): server and load generator not pinned")


@dataclass
class Server:
    label: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    needs_key: bool = False
    key: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/predict"


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process by its pid, then SIGKILL it if it has not exited in time."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"warning: pid {process.pid} survived SIGKILL for {STOP_TIMEOUT_S} s")


@contextlib.contextmanager
def running(
    label: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    folder: Path,
    needs_key: bool = False,
) -> Iterator[Server]:
    """A server subprocess, stopped by its pid whatever happens. It starts on every CPU (a
    dozen servers importing torch on one CPU take minutes); ``wait_ready`` pins it."""
    log = folder / f"{label.replace(' ', '_').replace('/', '_')}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=folder, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(label, process, port, log, needs_key)
    try:
        yield server
    finally:
        stop(process)


def pin_server(server: Server, pin: Pinning) -> None:
    """Move every thread of the server to the server CPU."""
    if pin.server:
        cpu = pin.server[-1]
        subprocess.run(
            ["taskset", "-a", "-p", "-c", cpu, str(server.process.pid)],
            check=True,
            capture_output=True,
            timeout=30,
        )


def wait_ready(server: Server, body: bytes, pin: Pinning) -> None:
    """Poll with the benchmark's own request until the server answers (any status), then pin
    it to the server CPU."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.label} exited at start:\n{tail(server.log)}")
        if server.needs_key and server.key is None:
            match = re.search(r"API key \(shown once\): (\S+)", server.log.read_text())
            if match:
                server.key = match.group(1)
            else:
                time.sleep(0.1)
                continue
        with contextlib.suppress(OSError):
            with HttpClient(server.port) as client:
                client.post(body, server.key)
            pin_server(server, pin)
            return
        time.sleep(0.1)
    raise SystemExit(
        f"{server.label} did not answer within {START_TIMEOUT_S} s:\n{tail(server.log)}"
    )


def tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# a minimal keep-alive HTTP/1.1 client: the least client-side cost per request ---------------
class HttpClient:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    @staticmethod
    def request(body: bytes, key: str | None) -> bytes:
        auth = f"Authorization: Bearer {key}\r\n" if key else ""
        head = (
            "POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\n{auth}Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def send(self, raw: bytes) -> tuple[int, bytes]:
        self.sock.sendall(raw)
        head = self._until(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if re.search(rb"(?i)\r\ntransfer-encoding:\s*chunked", head):
            parts = []
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                parts.append(self._exactly(size + 2)[:size])
                if size == 0:
                    return status, b"".join(parts)
        match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        return status, self._exactly(int(match.group(1)) if match else 0)

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._read()
        found, _, self.buffer = self.buffer.partition(marker)
        return found

    def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._read()
        found, self.buffer = self.buffer[:count], self.buffer[count:]
        return found

    def post(self, body: bytes, key: str | None) -> tuple[int, bytes]:
        return self.send(self.request(body, key))

    def _read(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk


# the models -------------------------------------------------------------------------------------
def build_models(folder: Path, rows: int = 2000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Train each model on the same generated table and save it as a bundle."""
    import numpy as np
    import pandas as pd

    import lepton

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(COLUMNS)))
    weights = rng.normal(size=len(COLUMNS))
    frame = pd.DataFrame(x, columns=COLUMNS)
    frame["label"] = (x @ weights + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    data = lepton.Dataset.from_pandas(frame, target="label", name="bench-serving")
    record = {c: float(v) for c, v in frame[COLUMNS].iloc[0].items()}
    models = {}
    for label, (zoo_name, params) in MODELS.items():
        model = lepton.create_model(zoo_name, **params).fit(data)
        bundle = lepton.save_model(model, folder / f"{label}.lepton")
        models[label] = {"model": model, "bundle": bundle, "record": record}
    return models


def timed_p50_us(call: Any, arg: Any, count: int, warmup: int = 20) -> float:
    """Median seconds of ``call(arg)``, in microseconds."""
    for _ in range(warmup):
        call(arg)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call(arg)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


# wrk --------------------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict[str, Any]:
    """req/s, p50/p99 (ms), request count, non-2xx and socket errors from ``wrk --latency``."""
    requests = re.search(r"(\d+) requests in", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (requests and rps and p50 and p99):
        raise SystemExit(f"could not parse wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "requests": int(requests.group(1)),
        "rps": float(rps.group(1)),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": (
            dict(
                zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)
            )
            if errors
            else {}
        ),
    }


def wrk(url: str, lua: Path, connections: int, seconds: float, pin: Pinning) -> dict[str, Any]:
    command = [
        *pin.client,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(lua),
        url,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = parse_wrk(done.stdout)
    result["errors"] = result["non_2xx"] + sum(result["socket_errors"].values())
    return result


def write_lua(folder: Path, body: bytes, key: str | None) -> Path:
    path = folder / f"post-{'key' if key else 'public'}.lua"
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    # a Lua long string keeps the JSON's quotes as they are
    path.write_text(LUA.format(body=f"[[{body.decode()}]]", auth=auth), encoding="utf-8")
    return path


def cpu_times(pid: int) -> tuple[float, float]:
    """Seconds all threads of ``pid`` ran on a CPU, and waited for one while runnable
    (/proc/PID/task/*/schedstat; zeros where the kernel does not keep them)."""
    run = wait = 0
    for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError, ValueError):
            fields = task.read_text().split()
            run, wait = run + int(fields[0]), wait + int(fields[1])
    return run / 1e9, wait / 1e9


# servers under load -----------------------------------------------------------------------------
@dataclass
class Bench:
    folder: Path
    pin: Pinning
    duration: float
    warmup: float
    repeat: int
    latency_requests: int

    def measure(self, server: Server, body: bytes, c: int) -> dict[str, Any]:
        """A warm-up, then one bounded wrk run at ``c`` connections, with the CPU time the
        server used meanwhile (a busy machine slows the wall clock, not the CPU time)."""
        lua = write_lua(self.folder, body, server.key)
        wrk(server.url, lua, c, self.warmup, self.pin)
        run_before, wait_before = cpu_times(server.process.pid)
        cell = wrk(server.url, lua, c, self.duration, self.pin)
        run_after, wait_after = cpu_times(server.process.pid)
        cell["server_cpu_s"] = run_after - run_before
        cell["server_runqueue_wait_s"] = wait_after - wait_before
        cell["requests_per_cpu_s"] = ratio(cell["requests"], cell["server_cpu_s"])
        return cell

    def rounds(
        self, servers: Sequence[tuple[Server, bytes]], model: str, connections: Sequence[int]
    ) -> list[dict[str, Any]]:
        """Each server at each concurrency, ``repeat`` rounds in turn (so drift in the
        machine's speed hits all alike); per cell the median req/s, p50 and p99 of the rounds."""
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for round_ in range(self.repeat):
            for server, body in servers:
                for c in connections:
                    cell = self.measure(server, body, c)
                    runs.setdefault((server.label, c), []).append(cell)
                    print(
                        f"  round {round_ + 1}  {server.label:<28} {model:<7} c={c:<3} "
                        f"{cell['rps']:>9,.0f} req/s  p50 {cell['p50_ms']:6.2f} ms  "
                        f"p99 {cell['p99_ms']:7.2f} ms  errors {cell['errors']}  "
                        f"load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
        return [
            {
                "server": label,
                "model": model,
                "concurrency": c,
                "rps": statistics.median(r["rps"] for r in cells),
                "p50_ms": statistics.median(r["p50_ms"] for r in cells),
                "p99_ms": statistics.median(r["p99_ms"] for r in cells),
                "requests_per_cpu_s": statistics.median(r["requests_per_cpu_s"] for r in cells),
                "runqueue_wait_share": statistics.median(
                    r["server_runqueue_wait_s"] / self.duration for r in cells
                ),
                "requests": sum(r["requests"] for r in cells),
                "errors": sum(r["errors"] for r in cells),
                "runs": cells,
            }
            for (label, c), cells in runs.items()
        ]

    def sequential_p50_us(self, server: Server, body: bytes) -> dict[str, float]:
        """p50/p99 of one-at-a-time requests on one keep-alive connection, client on CPU 1."""
        before = os.sched_getaffinity(0)
        if self.pin.client_cpus:
            os.sched_setaffinity(0, self.pin.client_cpus)
        try:
            with HttpClient(server.port) as client:
                raw = client.request(body, server.key)
                for _ in range(200):
                    client.send(raw)
                times = []
                for _ in range(self.latency_requests):
                    started = time.perf_counter()
                    status, _ = client.send(raw)
                    times.append(time.perf_counter() - started)
                    if status != 200:
                        raise SystemExit(f"{server.label}: sequential request got {status}")
        finally:
            os.sched_setaffinity(0, before)
        times.sort()
        return {
            "p50_us": statistics.median(times) * 1e6,
            "p99_us": times[int(len(times) * 0.99) - 1] * 1e6,
        }


def check_predictions(server: Server, body: bytes, expected: dict[str, Any]) -> dict[str, Any]:
    """One request: 200 and the in-process model's prediction (and probabilities, if sent)."""
    with HttpClient(server.port) as client:
        status, raw = client.post(body, server.key)
    if status != 200:
        raise SystemExit(f"{server.label} answered {status}: {raw[:300]!r}")
    answer = json.loads(raw)
    if answer["predictions"] != expected["predictions"]:
        raise SystemExit(
            f"{server.label} predicted {answer['predictions']}, in-process model.predict "
            f"{expected['predictions']}"
        )
    check: dict[str, Any] = {"predictions_equal": True}
    if "probabilities" in answer:
        check["max_probability_difference"] = max(
            abs(a - b)
            for a, b in zip(answer["probabilities"][0], expected["probabilities"][0], strict=True)
        )
    return check


def lepton_command(bundle: Path, port: int, public: bool, wait_ms: float, batch: int) -> list[str]:
    command = [
        str(VENV_BIN / "lepton"),
        "serve",
        str(bundle),
        "--port",
        str(port),
        "--max-wait-ms",
        f"{wait_ms:g}",
        "--max-batch-size",
        str(batch),
    ]
    return [*command, "--public"] if public else command


def uvicorn_command(target: str, port: int) -> list[str]:
    return [
        str(VENV_BIN / "python"),
        "-m",
        "uvicorn",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--no-server-header",
        "--workers",
        "1",
        "--log-level",
        "warning",
    ]


def in_process_p50_us(model: Any, record: dict[str, float], pin: Pinning) -> dict[str, float]:
    """p50 of ``model.predict`` of one record and of the server's ``Predictor`` of one row, in
    this process, on the load generator's CPU (the server's CPU stays idle)."""
    from lepton.serving._predictor import Predictor

    before = os.sched_getaffinity(0)
    if pin.client_cpus:
        os.sched_setaffinity(0, pin.client_cpus)
    try:
        predictor = Predictor(model)
        row = [record[c] for c in COLUMNS]
        return {
            "model_predict_p50_us": timed_p50_us(model.predict, [record], 300),
            "predictor_p50_us": timed_p50_us(predictor.predict, [row], 2000),
        }
    finally:
        os.sched_setaffinity(0, before)


def run_benchmark(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    pin = pinning()
    print(f"Machine: {pin.note}; load average {os.getloadavg()[0]:.2f}", flush=True)
    print("Training the models...", flush=True)
    models = build_models(folder)
    (folder / "bare_fastapi.py").write_text(FASTAPI_APP, encoding="utf-8")
    (folder / "noop_asgi.py").write_text(NOOP_APP, encoding="utf-8")
    bench = Bench(folder, pin, args.duration, args.warmup, args.repeat, args.latency_requests)
    lepton_label = "lepton (public)" if args.public else "lepton (API key)"
    needs_key = not args.public
    cells: list[dict[str, Any]] = []
    latency: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    sweep: list[dict[str, Any]] = []
    load: dict[str, float] = {"start": os.getloadavg()[0]}
    with contextlib.ExitStack() as everything:
        # the HTTP ceiling runs all along and is measured in turn with each model's servers
        port = free_port()
        noop = everything.enter_context(
            running("no-op ASGI", uvicorn_command("noop_asgi:app", port), {}, port, folder)
        )
        for name, entry in models.items():
            model, bundle, record = entry["model"], entry["bundle"], entry["record"]
            body = json.dumps({"inputs": [record]}).encode()
            expected = {
                "predictions": model.predict([record]).tolist(),
                "probabilities": model.predict_proba([record]).tolist(),
            }
            inprocess = in_process_p50_us(model, record, pin)
            print(f"\n[{name}] starting the servers", flush=True)
            with contextlib.ExitStack() as stack:
                port = free_port()
                command = lepton_command(bundle, port, args.public, 0.0, 256)
                lepton_server = stack.enter_context(
                    running(lepton_label, command, {}, port, folder, needs_key)
                )
                servers = [lepton_server]
                for label, env in (
                    ("bare FastAPI", {}),
                    ("bare FastAPI + Predictor", {"BENCH_PREDICTOR": "1"}),
                ):
                    port = free_port()
                    env = {**env, "BENCH_BUNDLE": str(bundle)}
                    command = uvicorn_command("bare_fastapi:app", port)
                    servers.append(stack.enter_context(running(label, command, env, port, folder)))
                for server in (*servers, noop):
                    wait_ready(server, body, pin)
                checks[f"{name}/{lepton_label}"] = check_predictions(lepton_server, body, expected)
                for server in servers[1:]:
                    checks[f"{name}/{server.label}"] = check_predictions(
                        server, body, {"predictions": expected["predictions"]}
                    )
                print(f"[{name}] batch 1, one connection: {args.latency_requests} requests")
                sequential = bench.sequential_p50_us(lepton_server, body)
                cells += bench.rounds([(s, body) for s in (*servers, noop)], name, args.concurrency)
            latency[name] = {
                **inprocess,
                "server_sequential_p50_us": sequential["p50_us"],
                "server_sequential_p99_us": sequential["p99_us"],
                "added_over_model_predict_ms": (
                    sequential["p50_us"] - inprocess["model_predict_p50_us"]
                )
                / 1000,
                "added_over_predictor_ms": (sequential["p50_us"] - inprocess["predictor_p50_us"])
                / 1000,
            }
            load[name] = os.getloadavg()[0]
            if args.sweep:
                print(f"\n[{name}] the batching options at c=64", flush=True)
                with contextlib.ExitStack() as stack:
                    options: dict[str, tuple[float, int]] = {}
                    started: list[Server] = []
                    for wait_ms, batch in SWEEP:
                        port = free_port()
                        command = lepton_command(bundle, port, args.public, wait_ms, batch)
                        label = f"lepton wait={wait_ms:g}ms batch={batch}"
                        options[label] = (wait_ms, batch)
                        started.append(
                            stack.enter_context(
                                running(label, command, {}, port, folder, needs_key)
                            )
                        )
                    for server in started:
                        wait_ready(server, body, pin)
                        check_predictions(server, body, expected)
                    for cell in bench.rounds([(s, body) for s in started], name, [64]):
                        wait_ms, batch = options[cell["server"]]
                        sweep.append({**cell, "max_wait_ms": wait_ms, "max_batch_size": batch})
    load["end"] = os.getloadavg()[0]
    return summarise(args, pin, cells, latency, checks, sweep, lepton_label, load)


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")  # a baseline that finished no request in the time


def find(cells: list[dict[str, Any]], server: str, model: str, c: int) -> dict[str, Any]:
    return next(
        x for x in cells if x["server"] == server and x["model"] == model and x["concurrency"] == c
    )


def summarise(
    args: argparse.Namespace,
    pin: Pinning,
    cells: list[dict[str, Any]],
    latency: dict[str, Any],
    checks: dict[str, Any],
    sweep: list[dict[str, Any]],
    lepton_label: str,
    load: dict[str, float],
) -> dict[str, Any]:
    verdicts: dict[str, Any] = {}
    for name in MODELS:
        per_model: dict[str, Any] = {}
        for c in args.concurrency:
            a = find(cells, lepton_label, name, c)
            b = find(cells, "bare FastAPI", name, c)
            b2 = find(cells, "bare FastAPI + Predictor", name, c)
            noop = find(cells, "no-op ASGI", name, c)
            per_model[str(c)] = {
                "a_over_b": ratio(a["rps"], b["rps"]),
                "a_over_b2": ratio(a["rps"], b2["rps"]),
                "a_over_c": ratio(a["rps"], noop["rps"]),
                "a_over_b_cpu": ratio(a["requests_per_cpu_s"], b["requests_per_cpu_s"]),
                "a_over_c_cpu": ratio(a["requests_per_cpu_s"], noop["requests_per_cpu_s"]),
                "p99_a_le_b": a["p99_ms"] <= b["p99_ms"],
                "errors": a["errors"],
            }
        per_model["added_ms"] = latency[name]["added_over_model_predict_ms"]
        verdicts[name] = per_model
    passes: dict[str, bool] = {}
    if 64 in args.concurrency:
        for name in MODELS:
            v = verdicts[name]["64"]
            passes[f"{name}: a/b >= {TARGET_VS_FASTAPI}x at c=64"] = (
                v["a_over_b"] >= TARGET_VS_FASTAPI
            )
            passes[f"{name}: p99 a <= p99 b at c=64"] = v["p99_a_le_b"]
            passes[f"{name}: a/c >= {TARGET_VS_NOOP}x at c=64"] = v["a_over_c"] >= TARGET_VS_NOOP
            passes[f"{name}: a/b >= {TARGET_VS_FASTAPI}x per server CPU-second at c=64"] = (
                v["a_over_b_cpu"] >= TARGET_VS_FASTAPI
            )
            passes[f"{name}: a/c >= {TARGET_VS_NOOP}x per server CPU-second at c=64"] = (
                v["a_over_c_cpu"] >= TARGET_VS_NOOP
            )
    for name in MODELS:
        passes[f"{name}: added p50 at batch 1 <= {TARGET_ADDED_MS} ms"] = (
            latency[name]["added_over_model_predict_ms"] <= TARGET_ADDED_MS
        )
    passes["no errors in any run"] = all(cell["errors"] == 0 for cell in cells + sweep)
    return {
        "benchmark": "serving",
        "date": dt.date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "arch": platform.machine(),
            "system": platform.system(),
            "python": platform.python_version(),
            "pinning": pin.note,
            "load_average_1min": load,
        },
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": list(args.concurrency),
            "repeat": args.repeat,
            "load_generator": "wrk -t1 (Lua POST of one record)",
            "lepton_auth": not args.public,
            "lepton_defaults": {"max_wait_ms": 0.0, "max_batch_size": 256},
            "latency_requests": args.latency_requests,
        },
        "cells": cells,
        "latency": latency,
        "checks": checks,
        "ratios": verdicts,
        "sweep": sweep,
        "targets": {
            "a_over_b": TARGET_VS_FASTAPI,
            "a_over_c": TARGET_VS_NOOP,
            "added_ms": TARGET_ADDED_MS,
        },
        "pass": passes,
    }


# output ---------------------------------------------------------------------------------------
def print_tables(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def verdict(ok: bool) -> str:
        return "[green]PASS[/green]" if ok else "[red]FAIL[/red]"

    console = Console(width=120)
    machine, settings = result["machine"], result["settings"]
    load = machine["load_average_1min"]
    caption = (
        f"{machine['pinning']}; Python {machine['python']}; {settings['duration_s']:g} s per cell "
        f"after {settings['warmup_s']:g} s of warm-up, median of {settings['repeat']} round(s); "
        f"1-min load average {load['start']:.1f} at start, {load['end']:.1f} at end. "
        "req/CPU-s: requests per second of CPU the server used (all its threads); CPU wait: "
        "share of the time the server was runnable but waiting for its CPU (other processes)"
    )
    table = Table(
        title="Serving throughput (wrk, one POST of one record per request)", caption=caption
    )
    for column in (
        "model",
        "server",
        "c",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "req/CPU-s",
        "CPU wait",
    ):
        table.add_column(column, justify="left" if column in ("model", "server") else "right")
    for cell in result["cells"]:
        table.add_row(
            cell["model"],
            cell["server"],
            str(cell["concurrency"]),
            f"{cell['rps']:,.0f}",
            f"{cell['p50_ms']:.2f}",
            f"{cell['p99_ms']:.2f}",
            str(cell["errors"]) if not cell["errors"] else f"[red]{cell['errors']}[/red]",
            f"{cell['requests_per_cpu_s']:,.0f}",
            f"{cell['runqueue_wait_share']:.0%}",
        )
    console.print(table)

    ratios = Table(
        title="Ratios (a = Lepton, b = bare FastAPI + model.predict, c = no-op ASGI)",
        caption="b2 = bare FastAPI + Lepton's Predictor (no batching), for reference; "
        "CPU: the same ratios of requests per server CPU-second",
    )
    for column in (
        "model",
        "c",
        "a/b",
        "target",
        "p99 a<=b",
        "a/c",
        "target",
        "a/b2",
        "a/b CPU",
        "a/c CPU",
    ):
        ratios.add_column(column, justify="left" if column == "model" else "right")
    for name, per_model in result["ratios"].items():
        for c in result["settings"]["concurrency"]:
            v = per_model[str(c)]
            judged = c == 64
            ratios.add_row(
                name,
                str(c),
                f"{v['a_over_b']:.2f}x",
                verdict(v["a_over_b"] >= TARGET_VS_FASTAPI) if judged else "",
                verdict(v["p99_a_le_b"]) if judged else ("yes" if v["p99_a_le_b"] else "no"),
                f"{v['a_over_c']:.2f}x",
                verdict(v["a_over_c"] >= TARGET_VS_NOOP) if judged else "",
                f"{v['a_over_b2']:.2f}x",
                f"{v['a_over_b_cpu']:.2f}x",
                f"{v['a_over_c_cpu']:.2f}x",
            )
    console.print(ratios)

    lat = Table(
        title="Batch 1, one connection, sequential requests (microseconds)",
        caption="in-process: model.predict of one record, and the server's own compute path "
        "(Predictor.predict of one row); server: round trip seen by a raw-socket client; "
        "added = server p50 - in-process p50",
    )
    for column in (
        "model",
        "model.predict p50",
        "Predictor p50",
        "server p50",
        "server p99",
        "added vs model.predict",
        "target",
        "added vs Predictor",
    ):
        lat.add_column(column, justify="left" if column == "model" else "right")
    for name, v in result["latency"].items():
        lat.add_row(
            name,
            f"{v['model_predict_p50_us']:,.0f}",
            f"{v['predictor_p50_us']:,.0f}",
            f"{v['server_sequential_p50_us']:,.0f}",
            f"{v['server_sequential_p99_us']:,.0f}",
            f"{v['added_over_model_predict_ms'] * 1000:+,.0f}",
            verdict(v["added_over_model_predict_ms"] <= TARGET_ADDED_MS),
            f"{v['added_over_predictor_ms'] * 1000:+,.0f}",
        )
    console.print(lat)

    if result["sweep"]:
        sweep = Table(title="Batching options, Lepton at c=64 (defaults: 0 ms, 256)")
        for column in (
            "model",
            "max_wait_ms",
            "max_batch_size",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "req/CPU-s",
        ):
            sweep.add_column(column, justify="left" if column == "model" else "right")
        for cell in result["sweep"]:
            sweep.add_row(
                cell["model"],
                f"{cell['max_wait_ms']:g}",
                str(cell["max_batch_size"]),
                f"{cell['rps']:,.0f}",
                f"{cell['p50_ms']:.2f}",
                f"{cell['p99_ms']:.2f}",
                str(cell["errors"]),
                f"{cell['requests_per_cpu_s']:,.0f}",
            )
        console.print(sweep)

    summary = Table(title="Targets")
    summary.add_column("target")
    summary.add_column("result", justify="right")
    for name, ok in result["pass"].items():
        summary.add_row(name, verdict(ok))
    console.print(summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load per cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of every cell; the median is reported"
    )
    parser.add_argument("--latency-requests", type=int, default=2000)
    parser.add_argument("--public", action="store_true", help="serve Lepton without an API key")
    parser.add_argument("--sweep", action="store_true", help="also try the batching options")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 120 or not 0 < args.warmup <= 30 or not 1 <= args.repeat <= 9:
        parser.error("--duration must be in (0, 120], --warmup in (0, 30], --repeat in [1, 9]")
    if args.latency_requests < 10:
        parser.error("--latency-requests must be >= 10")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (Debian).")

    for name in [n for n in os.environ if n.startswith("LEPTON_")]:
        del os.environ[name]
    output = args.output.resolve()
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="lepton-bench-serving-") as tmp:
        os.chdir(tmp)
        try:
            os.environ["LEPTON_HOME"] = str(Path(tmp) / "home")
            result = run_benchmark(args, Path(tmp))
        finally:
            os.chdir(here)
    print()
    print_tables(result)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
