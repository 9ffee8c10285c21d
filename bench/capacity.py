"""Capacity of the platform's shared parts: what saturates first when a team grows.

Three measurements, each against a baseline taken in the same run, for the capacity model of
docs/scaling.md (serving replicas are measured by ``bench/serving.py``; this script does not
measure them again):

1. **Metadata writes.** Batched metric points (``run.log_metric``) and runs created per second
   (``lepton.start_run`` with 5 params, then the end of the run) on (a) the embedded SQLite
   store and (b) a team server (``lepton server start`` subprocess) over a real PostgreSQL
   cluster. While (b) runs, the CPU seconds of the server process and of every PostgreSQL
   process are read from ``/proc``: points (or runs) per CPU-second of each say which of the two
   saturates first, independently of how busy this machine is. Baseline: raw SQLAlchemy inserts
   of the same rows into equivalent tables (metrics with its index; runs + params + an update
   at the end, one transaction each) in a fresh SQLite file and a fresh PostgreSQL database.
2. **Artifact bandwidth.** One ``--artifact-mb`` file of random bytes logged with
   ``run.log_artifact`` and downloaded again with ``run.download_artifacts``, (a) into the
   embedded store (a local folder) and (b) through the team server into a real SeaweedFS S3
   server (``--artifacts s3://...``; the server encrypts at rest, as a team runs it).
   Baselines: ``shutil.copyfile`` both ways (local), ``boto3`` ``upload_file`` /
   ``download_file`` straight to the same S3 server (remote).
3. **Control plane.** A tiny logistic regression deployed with ``--replicas`` real replica
   processes, driven by the control plane's own ``ControlPlane`` object in this process (so this
   process *is* the control plane and its proxy). Measured: one reconcile ``tick`` (health
   checks and the status write); one scrape of every replica (``/metrics`` and
   ``/v1/samples``, parse, store writes, alert rules) idle and after load, with the sampled
   requests it stored; the drift computation that runs every 30 s; and requests/s through the
   deployment's proxy at 64 connections (``wrk``) with the proxy's CPU seconds, against ``wrk``
   straight at one replica; then the tick and idle scrape again with one replica, so each cost
   splits into a part per deployment and a part per replica. Baselines for the scrape: its
   GETs alone with the control plane's own HTTP client, and raw ``httpx`` GETs of every
   replica's ``/metrics``. Ticks, scrapes and drift are reported in wall and CPU milliseconds
   of this process: on a busy machine the CPU time is the stable one.

PostgreSQL and SeaweedFS are started the way the tests start them (``tests/services.py``:
throwaway cluster / ``weed mini`` on free 127.0.0.1 ports in a temp folder) and stopped by pid.
Every store is fresh, in a temp folder. Results go to ``bench/results/capacity.json``.

Usage: ``.venv/bin/python bench/capacity.py [--points 50000] [--runs 100] [--artifact-mb 50]
[--replicas 3] [--scrapes 10] [--load-seconds 3] [--repeat 3]
[--skip metadata,artifacts,controlplane]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "capacity.json"
KEYS = ("loss", "accuracy", "learning_rate", "grad_norm")
PARAMS = {"lr": 0.01, "batch_size": 32, "epochs": 10, "model": "mlp", "seed": 0}
COLUMNS = ["f0", "f1", "f2", "f3"]
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


# services, processes, CPU time ------------------------------------------------------------------
def services() -> Any:
    """tests/services.py: the same PostgreSQL and SeaweedFS start-up the storage tests use."""
    sys.path.insert(0, str(ROOT))
    from tests import services as module

    return module


@contextlib.contextmanager
def started(what: str, start: Callable[[], Any]) -> Iterator[Any]:
    """Start a service of tests/services.py; its pytest.skip (binary missing) becomes an exit."""
    try:
        server = start()
    except BaseException as exc:  # pytest's Skipped derives from BaseException
        if type(exc).__name__ == "Skipped":
            raise SystemExit(f"Cannot start {what}: {exc}") from None
        raise
    try:
        yield server
    finally:
        server.stop()


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (and of its reaped children when ``children``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # after the name: state is field 3 of stat, so utime (14) is index 11 here
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICKS_PER_S


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU seconds of a process, its reaped children and its live children (PostgreSQL's
    postmaster and its backends)."""
    total = cpu_seconds(root_pid, children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == root_pid:
            total += (int(fields[11]) + int(fields[12])) / TICKS_PER_S
    return total


def start_server(home: Path, db: str, artifacts: str, env: dict[str, str]) -> tuple[Any, str, str]:
    """``lepton server start`` as a subprocess; (process, url, admin key)."""
    import httpx

    from lepton.serving._server import free_port

    port = free_port()
    home.mkdir(parents=True)
    log = home.parent / "server.log"
    env = {**os.environ, **env, "LEPTON_URL": "", "LEPTON_CREDENTIALS": str(home.parent / "c.json")}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lepton.cli", "server", "start", "--home", str(home),
             "--port", str(port), "--rate-limit", "0", "--db", db, "--artifacts", artifacts],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline and process.poll() is None:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                key = re.search(r"\b(lp_[A-Za-z0-9_-]{20,})\b", log.read_text())
                if key:
                    return process, url, key.group(1)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server did not start:\n{log.read_text()[-3000:]}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM by pid, SIGKILL after 30 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def use(url: str | None, token: str | None, home: Path) -> None:
    """Point the SDK of this process at a server (or at an embedded store in ``home``)."""
    from lepton.workspace import reset

    os.environ["LEPTON_HOME"] = str(home)
    os.environ["LEPTON_URL"] = url or ""
    os.environ["LEPTON_TOKEN"] = token or ""
    reset()


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# 1. metadata writes ---------------------------------------------------------------------------
def log_points(points: int) -> tuple[float, str]:
    """Seconds to log ``points`` through ``run.log_metric`` until all are stored; the run id."""
    import lepton

    with lepton.start_run(name="bench-capacity", project="bench") as run:
        started = time.perf_counter()
        for i in range(points):
            run.log_metric(KEYS[i % len(KEYS)], 1.0 / (i + 1), step=i // len(KEYS))
    return time.perf_counter() - started, run.id


def create_runs(count: int) -> float:
    """Seconds to create ``count`` runs with 5 params each and end them."""
    import lepton

    started = time.perf_counter()
    for i in range(count):
        with lepton.start_run(name=f"run-{i}", project="bench") as run:
            run.log_params(PARAMS)
    return time.perf_counter() - started


def raw_tables(url: str) -> tuple[Any, Any, Any, Any]:
    """A fresh engine with minimal runs / params / metrics tables like the store's."""
    from sqlalchemy import (
        BigInteger,
        Column,
        Double,
        Index,
        Integer,
        MetaData,
        String,
        Table,
        Text,
        create_engine,
    )  # fmt: skip

    engine = create_engine(url)
    meta = MetaData()
    runs = Table(
        "runs", meta,
        Column("id", String(32), primary_key=True), Column("name", String(250)),
        Column("status", String(16)), Column("start_time", Double), Column("end_time", Double),
    )  # fmt: skip
    params = Table(
        "params", meta,
        Column("run_id", String(32), primary_key=True), Column("key", String(250), primary_key=True),
        Column("value", Text),
    )  # fmt: skip
    metrics = Table(
        "metrics", meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(32)), Column("key", String(250)), Column("step", BigInteger),
        Column("timestamp", Double), Column("value", Double),
        Index("ix_raw_metrics", "run_id", "key", "step"),
    )  # fmt: skip
    meta.create_all(engine)
    return engine, runs, params, metrics


def raw_points(
    url: str, points: int, cpu: Callable[[], float] = lambda: 0.0
) -> tuple[float, float]:
    """Seconds to insert ``points`` metric rows with one SQLAlchemy executemany + commit, and
    the increase of ``cpu()`` meanwhile (read before the connection closes)."""
    engine, _, _, metrics = raw_tables(url)
    now = time.time()
    rows = [
        {
            "run_id": "r" * 32,
            "key": KEYS[i % 4],
            "step": i // 4,
            "timestamp": now,
            "value": 1.0 / (i + 1),
        }
        for i in range(points)
    ]
    with engine.connect() as conn:  # connected first: a new backend's start-up is not counted
        cpu0 = cpu()
        started = time.perf_counter()
        with conn.begin():
            conn.execute(metrics.insert(), rows)
        seconds = time.perf_counter() - started
        used = cpu() - cpu0
    engine.dispose()
    return seconds, used


def raw_runs(url: str, count: int, cpu: Callable[[], float] = lambda: 0.0) -> tuple[float, float]:
    """Seconds to create ``count`` runs the floor way: insert the run, insert its params, mark
    it finished, each in its own transaction (what a run costs the database at least); and the
    increase of ``cpu()`` meanwhile."""
    import uuid

    engine, runs, params, _ = raw_tables(url)
    with engine.connect():  # the pool keeps this connection: its start-up is not counted
        pass
    cpu0 = cpu()
    started = time.perf_counter()
    for i in range(count):
        run_id = uuid.uuid4().hex
        with engine.begin() as conn:
            conn.execute(runs.insert(), {"id": run_id, "name": f"run-{i}", "status": "running",
                                         "start_time": time.time()})  # fmt: skip
        with engine.begin() as conn:
            conn.execute(params.insert(), [
                {"run_id": run_id, "key": k, "value": json.dumps(v)} for k, v in PARAMS.items()
            ])  # fmt: skip
        with engine.begin() as conn:
            conn.execute(
                runs.update().where(runs.c.id == run_id),
                {"status": "finished", "end_time": time.time()},
            )
    seconds = time.perf_counter() - started
    used = cpu() - cpu0
    engine.dispose()
    return seconds, used


def count_pg_points(pg: Any, dbname: str, run_id: str) -> int:
    import psycopg

    with psycopg.connect(pg.conninfo(dbname)) as conn:
        row = conn.execute("SELECT COUNT(*) FROM metrics WHERE run_id = %s", (run_id,)).fetchone()
        return int(row[0]) if row else 0


def bench_metadata(root: Path, points: int, runs: int, repeat: int) -> dict[str, Any]:
    svc = services()
    with started("PostgreSQL", svc.start_postgres) as pg:
        dbname = pg.create_database()
        raw_pg = [pg.create_database() for _ in range(repeat)]
        process, url, key = start_server(
            root / "meta-server", f"{pg.url}/{dbname}", str(root / "meta-artifacts"), {}
        )
        rows: dict[str, list[float]] = {
            name: [] for name in (
                "points_local", "points_remote", "points_raw_sqlite", "points_raw_pg",
                "runs_local", "runs_remote", "runs_raw_sqlite", "runs_raw_pg",
                "points_server_cpu", "points_pg_cpu", "runs_server_cpu", "runs_pg_cpu",
                "points_raw_pg_cpu", "runs_raw_pg_cpu",
            )
        }  # fmt: skip
        try:
            for trial in range(repeat):  # alternated, so drift of the machine hits all alike
                use(None, None, root / f"meta-local-{trial}")
                rows["points_local"].append(log_points(points)[0])
                rows["runs_local"].append(create_runs(runs))

                use(url, key, root / "meta-client")
                server0, pg0 = cpu_seconds(process.pid), tree_cpu_seconds(pg.pid)
                seconds, run_id = log_points(points)
                server1, pg1 = cpu_seconds(process.pid), tree_cpu_seconds(pg.pid)
                stored = count_pg_points(pg, dbname, run_id)
                if stored != points:
                    raise SystemExit(f"{stored} of {points} points reached PostgreSQL")
                rows["points_remote"].append(seconds)
                rows["points_server_cpu"].append(server1 - server0)
                rows["points_pg_cpu"].append(pg1 - pg0)
                rows["runs_remote"].append(create_runs(runs))
                server2, pg2 = cpu_seconds(process.pid), tree_cpu_seconds(pg.pid)
                rows["runs_server_cpu"].append(server2 - server1)
                rows["runs_pg_cpu"].append(pg2 - pg1)

                sqlite_url = f"sqlite:///{root / f'raw-{trial}.db'}"
                rows["points_raw_sqlite"].append(raw_points(sqlite_url, points)[0])
                rows["runs_raw_sqlite"].append(raw_runs(sqlite_url, runs)[0])
                pg_url, pg_cpu = f"{pg.url}/{raw_pg[trial]}", lambda: tree_cpu_seconds(pg.pid)
                seconds, used = raw_points(pg_url, points, pg_cpu)
                rows["points_raw_pg"].append(seconds)
                rows["points_raw_pg_cpu"].append(used)
                seconds, used = raw_runs(pg_url, runs, pg_cpu)
                rows["runs_raw_pg"].append(seconds)
                rows["runs_raw_pg_cpu"].append(used)
        finally:
            use(None, None, root / "meta-client")
            stop_process(process)
    m = {name: median(values) for name, values in rows.items()}
    return {
        "points": points,
        "runs": runs,
        "seconds": rows,
        "points_per_s": {
            "embedded_sqlite": points / m["points_local"],
            "server_postgres": points / m["points_remote"],
            "raw_sqlalchemy_sqlite": points / m["points_raw_sqlite"],
            "raw_sqlalchemy_postgres": points / m["points_raw_pg"],
        },
        "runs_per_s": {
            "embedded_sqlite": runs / m["runs_local"],
            "server_postgres": runs / m["runs_remote"],
            "raw_sqlalchemy_sqlite": runs / m["runs_raw_sqlite"],
            "raw_sqlalchemy_postgres": runs / m["runs_raw_pg"],
        },
        "per_cpu_second": {
            "points_server": points / max(m["points_server_cpu"], 1e-9),
            "points_postgres": points / max(m["points_pg_cpu"], 1e-9),
            "runs_server": runs / max(m["runs_server_cpu"], 1e-9),
            "runs_postgres": runs / max(m["runs_pg_cpu"], 1e-9),
            "points_postgres_raw": points / max(m["points_raw_pg_cpu"], 1e-9),
            "runs_postgres_raw": runs / max(m["runs_raw_pg_cpu"], 1e-9),
        },
    }


# 2. artifact bandwidth -----------------------------------------------------------------------------
def timed(call: Callable[..., Any], *args: Any) -> float:
    started = time.perf_counter()
    call(*args)
    return time.perf_counter() - started


def artifact_round(file: Path, out: Path) -> tuple[float, float]:
    """(upload s, download s) of ``file`` through the SDK's current store."""
    import lepton

    with lepton.start_run(name="bench-artifact", project="bench") as run:
        up = timed(lambda: run.log_artifact(file, "blob.bin"))
        down = timed(lambda: run.download_artifacts("blob.bin", out))
    if out.stat().st_size != file.stat().st_size:
        raise SystemExit(f"downloaded {out.stat().st_size} of {file.stat().st_size} bytes")
    out.unlink()
    return up, down


def bench_artifacts(root: Path, megabytes: int, repeat: int) -> dict[str, Any]:
    svc = services()
    file = root / "blob.bin"
    with open(file, "wb") as handle:  # random bytes: nothing on the way can compress them
        for _ in range(megabytes):
            handle.write(os.urandom(1 << 20))
    out = root / "blob.out"
    size_mb = file.stat().st_size / 1e6
    env = {
        "AWS_ACCESS_KEY_ID": svc.S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": svc.S3_SECRET_KEY,
        "AWS_DEFAULT_REGION": svc.S3_REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    with started("SeaweedFS", svc.start_seaweedfs) as s3:
        env["LEPTON_S3_ENDPOINT_URL"] = s3.endpoint
        process, url, key = start_server(
            root / "s3-server", f"sqlite:///{root / 's3-server.db'}", "s3://lepton-bench/art", env
        )
        client = s3.client()
        client.create_bucket(Bucket="raw-bench")
        rows: dict[str, list[float]] = {
            n: [] for n in ("local_up", "local_down", "copy_up", "copy_down", "remote_up",
                            "remote_down", "boto3_up", "boto3_down", "server_cpu")
        }  # fmt: skip
        try:
            for trial in range(repeat):
                use(None, None, root / f"art-local-{trial}")
                up, down = artifact_round(file, out)
                rows["local_up"].append(up)
                rows["local_down"].append(down)
                copy = root / "copy.bin"
                rows["copy_up"].append(timed(shutil.copyfile, file, copy))
                rows["copy_down"].append(timed(shutil.copyfile, copy, out))
                copy.unlink()
                out.unlink()
                shutil.rmtree(root / f"art-local-{trial}")

                use(url, key, root / "art-client")
                cpu0 = cpu_seconds(process.pid)
                up, down = artifact_round(file, out)
                rows["server_cpu"].append(cpu_seconds(process.pid) - cpu0)
                rows["remote_up"].append(up)
                rows["remote_down"].append(down)
                name = f"raw-{trial}.bin"
                rows["boto3_up"].append(timed(client.upload_file, str(file), "raw-bench", name))
                rows["boto3_down"].append(timed(client.download_file, "raw-bench", name, str(out)))
                out.unlink()
        finally:
            use(None, None, root / "art-client")
            stop_process(process)
    m = {name: median(values) for name, values in rows.items()}
    return {
        "megabytes": size_mb,
        "seconds": rows,
        "mb_per_s": {n: size_mb / m[n] for n in m if n != "server_cpu"},
        "server_mb_per_cpu_s": 2 * size_mb / max(m["server_cpu"], 1e-9),  # up and down
    }


# 3. control plane ----------------------------------------------------------------------------------
def train_tiny_model() -> None:
    """Register a logistic regression on 200 generated rows as model ``tiny`` version 1."""
    import numpy as np
    import pandas as pd

    import lepton

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, len(COLUMNS))), columns=COLUMNS)
    frame["label"] = (frame["f0"] + frame["f1"] > 0).astype(int)
    data = lepton.Dataset.from_pandas(frame, target="label", name="bench-capacity")
    model = lepton.create_model("logistic_regression").fit(data)
    lepton.register(model, "tiny")


async def timed_calls(call: Callable[[], Any], count: int) -> tuple[float, float]:
    """Median wall ms and median CPU ms of this process (all its threads) of ``count`` calls of
    ``call`` (awaited when it returns an awaitable). CPU time is what the control plane pays;
    on a busy machine it varies much less than the wall time."""
    walls, cpus = [], []
    for _ in range(count):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        returned = call()
        if asyncio.iscoroutine(returned):
            await returned
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
    return median(walls) * 1000, median(cpus) * 1000


def wrk_command(port: int, seconds: float, connections: int, script: Path) -> list[str]:
    return ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "-s", str(script),
            f"http://127.0.0.1:{port}/v1/predict"]  # fmt: skip


def parse_wrk(text: str) -> tuple[float, int]:
    """(requests/s, non-2xx + socket errors) of wrk's report."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", text))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    if rate is None:
        raise SystemExit(f"wrk printed no rate:\n{text}")
    return float(rate.group(1)), errors


async def control_plane(root: Path, replicas: int, scrapes: int, seconds: float) -> dict[str, Any]:
    """Everything of section 3 on one event loop, which is the control plane's."""
    import httpx

    from lepton.deployments._controlplane import ControlPlane, _drift_psi
    from lepton.serving._server import free_port
    from lepton.workspace import get_workspace

    workspace = get_workspace()
    home = root / "cp-home"
    workspace.save_deployment(
        "tiny", "default",
        {"model_name": "tiny", "model_version": 1, "desired": "running", "status": "pending",
         "replicas": replicas, "host": "127.0.0.1", "port": free_port(), "key_hash": None,
         "options": {}, "secrets": []},
    )  # fmt: skip
    plane = ControlPlane(workspace, home, scrape_interval=1e9)  # scrapes only when we call it
    result: dict[str, Any] = {"replicas": replicas}
    try:
        started_at = time.perf_counter()
        while True:
            await plane.tick()
            runtime = plane.runtimes.get("tiny")
            if runtime and sum(r.ready for r in runtime.replicas) == replicas:
                break
            if time.perf_counter() - started_at > 180:
                info = workspace.get_deployment("tiny")
                raise SystemExit(f"replicas not ready after 180 s: {info.status} {info.error}")
            await asyncio.sleep(0.2)
        result["replicas_ready_s"] = time.perf_counter() - started_at
        # drift is measured on its own below; keep it out of the timed scrapes
        runtime.last_drift = time.time() + 1e9
        result["tick_ms"], result["tick_cpu_ms"] = await timed_calls(plane.tick, scrapes)

        def store_calls() -> None:  # what every tick asks the store for one deployment
            workspace.list_deployments()
            workspace.update_deployment("tiny", status="running", error=None, state={})

        result["tick_store_ms"], result["tick_store_cpu_ms"] = await timed_calls(
            store_calls, scrapes
        )

        # baselines of the scrape: the same two GETs per replica with the control plane's own
        # HTTP client (no parsing, no store), and a raw httpx GET of /metrics
        token = runtime.token

        async def gets() -> None:
            for replica in runtime.replicas:
                await replica.upstream.get("/metrics", token)
                await replica.upstream.get("/v1/samples", token)

        urls = [f"http://127.0.0.1:{r.port}/metrics" for r in runtime.replicas]
        async with httpx.AsyncClient() as client:

            async def raw_gets() -> None:
                for url in urls:
                    reply = await client.get(url, headers={"authorization": f"Bearer {token}"})
                    reply.raise_for_status()

            result["raw_get_ms"], result["raw_get_cpu_ms"] = await timed_calls(raw_gets, scrapes)
        result["scrape_gets_ms"], result["scrape_gets_cpu_ms"] = await timed_calls(gets, scrapes)

        def scrape() -> Any:
            return plane._scrape(runtime, time.time())

        result["scrape_idle_ms"], result["scrape_idle_cpu_ms"] = await timed_calls(scrape, scrapes)

        script = root / "post.lua"
        body = json.dumps({"inputs": [{c: 0.5 for c in COLUMNS}]})
        script.write_text(
            f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        proxied, loaded, loaded_cpu, samples, direct = [], [], [], [], []
        # count the sampled requests each scrape hands to the store
        stored: list[int] = []
        add_samples = workspace.add_request_samples

        def counting_add(name: str, rows: list[dict[str, Any]], *args: Any) -> None:
            stored.append(len(rows))
            add_samples(name, rows, *args)

        workspace.add_request_samples = counting_add
        for _ in range(3):  # load through the proxy, then scrape what it left
            cpu0 = time.process_time()
            wrk = await asyncio.create_subprocess_exec(
                *wrk_command(runtime.port, seconds, 64, script),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            out, _ = await wrk.communicate()
            rate, errors = parse_wrk(out.decode())
            proxied.append((rate, errors, time.process_time() - cpu0))
            stored.clear()
            wall, cpu = await timed_calls(scrape, 1)
            loaded.append(wall)
            loaded_cpu.append(cpu)
            samples.append(sum(stored))
            # the same load straight at one replica (the proxy idles meanwhile)
            one = subprocess.run(
                wrk_command(runtime.replicas[0].port, seconds, 64, script),
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            direct.append(parse_wrk(one.stdout))
        result["scrape_loaded_ms"] = median(loaded)
        result["scrape_loaded_cpu_ms"] = median(loaded_cpu)
        result["samples_per_loaded_scrape"] = median(samples)
        result["proxy_rps"] = median([p[0] for p in proxied])
        result["proxy_errors"] = sum(p[1] for p in proxied)
        result["proxy_cpu_s"] = median([p[2] for p in proxied])
        result["proxy_rps_per_cpu_s"] = median([p[0] * seconds / max(p[2], 1e-9) for p in proxied])
        result["direct_rps"] = median([d[0] for d in direct])
        result["direct_errors"] = sum(d[1] for d in direct)

        async def drift() -> None:  # as the scrape runs it every 30 s, on the stored samples
            await asyncio.to_thread(_drift_psi, workspace, "tiny")

        result["drift_ms"], result["drift_cpu_ms"] = await timed_calls(drift, 1)

        # the same tick and idle scrape with one replica: two points split each cost into a
        # part per deployment and a part per replica
        workspace.update_deployment("tiny", replicas=1)
        deadline = time.perf_counter() + 60
        while len(runtime.replicas) != 1 or not runtime.replicas[0].ready:
            if time.perf_counter() > deadline:
                raise SystemExit("scaling down to one replica took over 60 s")
            await plane.tick()
            await asyncio.sleep(0.2)
        await scrape()  # takes what the load left behind
        result["tick_ms_1"], result["tick_cpu_ms_1"] = await timed_calls(plane.tick, scrapes)
        result["scrape_idle_ms_1"], result["scrape_idle_cpu_ms_1"] = await timed_calls(
            scrape, scrapes
        )
    finally:
        await plane.shutdown()
    return result


def bench_control_plane(root: Path, replicas: int, scrapes: int, seconds: float) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed; install it with scripts/system-deps.sh")
    use(None, None, root / "cp-home")
    train_tiny_model()
    return asyncio.run(control_plane(root, replicas, scrapes, seconds))


# report ----------------------------------------------------------------------------------------------
def print_tables(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    meta = result.get("metadata")
    if meta:
        table = Table(title=f"Metadata writes, median of {result['repeat']}")
        for column in ("", "points/s", "vs raw", "runs/s", "vs raw"):
            table.add_column(column, justify="right" if column else "left")
        p, r = meta["points_per_s"], meta["runs_per_s"]
        table.add_row("embedded SQLite (SDK)", f"{p['embedded_sqlite']:,.0f}",
                      f"{p['embedded_sqlite'] / p['raw_sqlalchemy_sqlite']:.2f}x",
                      f"{r['embedded_sqlite']:,.1f}",
                      f"{r['embedded_sqlite'] / r['raw_sqlalchemy_sqlite']:.2f}x")  # fmt: skip
        table.add_row("raw SQLAlchemy, SQLite", f"{p['raw_sqlalchemy_sqlite']:,.0f}", "",
                      f"{r['raw_sqlalchemy_sqlite']:,.1f}", "")  # fmt: skip
        table.add_row("team server + PostgreSQL (SDK)", f"{p['server_postgres']:,.0f}",
                      f"{p['server_postgres'] / p['raw_sqlalchemy_postgres']:.2f}x",
                      f"{r['server_postgres']:,.1f}",
                      f"{r['server_postgres'] / r['raw_sqlalchemy_postgres']:.2f}x")  # fmt: skip
        table.add_row("raw SQLAlchemy, PostgreSQL", f"{p['raw_sqlalchemy_postgres']:,.0f}", "",
                      f"{r['raw_sqlalchemy_postgres']:,.1f}", "")  # fmt: skip
        c = meta["per_cpu_second"]
        table.add_row("per server CPU-second", f"{c['points_server']:,.0f}", "",
                      f"{c['runs_server']:,.1f}", "")  # fmt: skip
        table.add_row("per PostgreSQL CPU-second", f"{c['points_postgres']:,.0f}",
                      f"{c['points_postgres'] / c['points_postgres_raw']:.2f}x",
                      f"{c['runs_postgres']:,.1f}",
                      f"{c['runs_postgres'] / c['runs_postgres_raw']:.2f}x")  # fmt: skip
        table.add_row("  raw SQLAlchemy", f"{c['points_postgres_raw']:,.0f}", "",
                      f"{c['runs_postgres_raw']:,.1f}", "")  # fmt: skip
        console.print(table)
        console.print(f"{meta['points']:,} points (4 keys per step); {meta['runs']} runs with "
                      f"{len(PARAMS)} params each")  # fmt: skip
    art = result.get("artifacts")
    if art:
        table = Table(
            title=f"Artifact bandwidth, {art['megabytes']:.0f} MB, median of {result['repeat']}"
        )
        for column in ("", "upload MB/s", "download MB/s", "vs baseline (up / down)"):
            table.add_column(column, justify="right" if column else "left")
        b = art["mb_per_s"]
        table.add_row("embedded store (folder)", f"{b['local_up']:,.0f}", f"{b['local_down']:,.0f}",
                      f"{b['local_up'] / b['copy_up']:.2f}x / {b['local_down'] / b['copy_down']:.2f}x")  # fmt: skip
        table.add_row("shutil.copyfile", f"{b['copy_up']:,.0f}", f"{b['copy_down']:,.0f}", "")
        table.add_row("team server -> SeaweedFS S3", f"{b['remote_up']:,.0f}",
                      f"{b['remote_down']:,.0f}",
                      f"{b['remote_up'] / b['boto3_up']:.2f}x / {b['remote_down'] / b['boto3_down']:.2f}x")  # fmt: skip
        table.add_row(
            "boto3 straight to S3", f"{b['boto3_up']:,.0f}", f"{b['boto3_down']:,.0f}", ""
        )
        table.add_row(
            "per server CPU-second", f"{art['server_mb_per_cpu_s']:,.0f} (up+down)", "", ""
        )
        console.print(table)
    cp = result.get("controlplane")
    if cp:
        n = cp["replicas"]
        table = Table(title=f"Control plane, a deployment of {n} replicas (logistic regression)")
        for column in ("", "wall ms", "CPU ms", "baseline / note"):
            table.add_column(column, justify="right" if column else "left")
        rows = [
            ("reconcile tick (every 0.5 s)", "tick", f"its 2 store calls {cp['tick_store_cpu_ms']:.1f} CPU ms"),
            ("reconcile tick, 1 replica", "tick", None),
            ("scrape, idle", "scrape_idle",
             f"its GETs alone {cp['scrape_gets_cpu_ms']:.1f} CPU ms; httpx GET /metrics x{n} "
             f"{cp['raw_get_cpu_ms']:.1f} CPU ms"),
            ("scrape idle, 1 replica", "scrape_idle", None),
            ("scrape after load", "scrape_loaded",
             f"{cp['samples_per_loaded_scrape']:,.0f} sampled requests stored"),
            ("drift (every 30 s)", "drift", "in a thread"),
        ]  # fmt: skip
        for label, key, note in rows:
            suffix = "_1" if "1 replica" in label else ""
            table.add_row(label, f"{cp[key + '_ms' + suffix]:.1f}",
                          f"{cp[key + '_cpu_ms' + suffix]:.1f}", note or "")  # fmt: skip
        console.print(table)
        console.print(
            f"proxy at 64 connections: {cp['proxy_rps']:,.0f} req/s, "
            f"{cp['proxy_rps_per_cpu_s']:,.0f} req per proxy CPU-second; one replica direct "
            f"{cp['direct_rps']:,.0f} req/s ({cp['proxy_rps'] / cp['direct_rps']:.2f}x); errors: "
            f"proxy {cp['proxy_errors']}, direct {cp['direct_errors']}; replicas ready after "
            f"{cp['replicas_ready_s']:.1f} s"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--artifact-mb", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--scrapes", type=int, default=10)
    parser.add_argument("--load-seconds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--skip", default="", help="comma-separated: metadata,artifacts,controlplane"
    )
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    result: dict[str, Any] = {
        "benchmark": "capacity",
        "date": dt.date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "arch": platform.machine(),
                    "python": platform.python_version(), "load_average_start": os.getloadavg()[0]},
        "repeat": args.repeat,
    }  # fmt: skip
    started_at = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lepton-bench-capacity-") as folder:
        root = Path(folder)
        if "metadata" not in skip:
            result["metadata"] = bench_metadata(root, args.points, args.runs, args.repeat)
        if "artifacts" not in skip:
            result["artifacts"] = bench_artifacts(root, args.artifact_mb, args.repeat)
        if "controlplane" not in skip:
            result["controlplane"] = bench_control_plane(
                root, args.replicas, args.scrapes, args.load_seconds
            )
    result["machine"]["load_average_end"] = os.getloadavg()[0]
    result["seconds"] = time.perf_counter() - started_at
    print_tables(result)
    print(f"total {result['seconds']:.0f} s; 1-min load average "
          f"{result['machine']['load_average_start']:.1f} at start, "
          f"{result['machine']['load_average_end']:.1f} at end")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
