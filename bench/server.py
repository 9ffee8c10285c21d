"""The team server's cost: the same SDK work against ``lepton server start`` and on the
embedded store, in one run.

(a) Metric logging: ``--points`` points through ``run.log_metric`` (batched by the SDK's
background writer, one ``POST /api/v1/metrics`` per batch), timed until the ``with`` block
has exited, i.e. every point is stored; against the same on the embedded SQLite store.
(b) Small reads: ``--calls`` sequential ``get_run`` calls (of the run just logged, whose
latest metric values are part of the answer) through ``RemoteWorkspace`` (HTTP, auth, role
check, the read, JSON) against the same ``get_run`` on the embedded store opened on the server's
own database file, and ``GET /healthz`` on the same keep-alive connection (the HTTP floor of
the same server), with p50 latencies.

The server is a subprocess (``python -m lepton.cli server start``) on a fresh home with SQLite
and encryption at rest on, as a team would start it; the points are counted in its database
afterwards, so nothing unwritten is reported.

Usage: ``.venv/bin/python bench/server.py [--points 100000] [--calls 2000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "server.json"
KEYS = ("loss", "accuracy", "learning_rate", "grad_norm")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(home: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    import httpx

    port = free_port()
    log = home.parent / "server.log"
    env = {**os.environ, "LEPTON_URL": "", "LEPTON_CREDENTIALS": str(home.parent / "cred.json")}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lepton.cli", "server", "start", "--home", str(home),
             "--port", str(port), "--rate-limit", "0"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                key = re.search(r"\b(lp_[A-Za-z0-9_-]{20,})\b", log.read_text())
                if key:
                    return process, url, key.group(1)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server did not start:\n{log.read_text()}")


def log_points(points: int) -> tuple[float, str]:
    import lepton

    with lepton.start_run(name="bench-server", project="bench") as run:
        started = time.perf_counter()
        for i in range(points):
            run.log_metric(KEYS[i % len(KEYS)], 1.0 / (i + 1), step=i // len(KEYS))
    return time.perf_counter() - started, run.id


def use(url: str | None, token: str | None, home: Path) -> None:
    from lepton.workspace import reset

    os.environ["LEPTON_HOME"] = str(home)
    os.environ["LEPTON_URL"] = url or ""
    os.environ["LEPTON_TOKEN"] = token or ""
    reset()


def count_rows(db: Path, run_id: str) -> int:
    with sqlite3.connect(db) as conn:
        query = "SELECT COUNT(*) FROM metrics WHERE run_id = ?"
        return int(conn.execute(query, (run_id,)).fetchone()[0])


def time_calls(call: Any, calls: int) -> tuple[float, float]:
    """(calls per second, p50 ms) of ``calls`` sequential calls after 50 of warm-up."""
    for _ in range(50):
        call()
    latencies = []
    started = time.perf_counter()
    for _ in range(calls):
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    return calls / (time.perf_counter() - started), statistics.median(latencies) * 1000


def run_benchmark(points: int, calls: int, repeat: int) -> dict[str, Any]:
    from lepton.workspace import get_workspace
    from lepton.workspace._local import LocalWorkspace

    with tempfile.TemporaryDirectory(prefix="lepton-bench-server-") as folder:
        root = Path(folder)
        server_home = root / "server-home"
        process, url, key = start_server(server_home)
        try:
            remote_s, local_s = [], []
            for trial in range(repeat):  # alternated, so drift hits both alike
                use(url, key, root / "client")
                seconds, run_id = log_points(points)
                written = count_rows(server_home / "lepton.db", run_id)
                if written != points:
                    raise SystemExit(f"{written} of {points} points reached the server")
                remote_s.append(seconds)
                use(None, None, root / f"local-{trial}")
                local_s.append(log_points(points)[0])

            use(url, key, root / "client")
            workspace = get_workspace()
            client = workspace.http.client  # type: ignore[attr-defined]
            get_run = lambda: workspace.get_run(run_id)  # noqa: E731
            healthz = lambda: client.get(url + "/healthz")  # noqa: E731
            embedded = LocalWorkspace(f"sqlite:///{server_home / 'lepton.db'}", str(root / "a"))
            local_get_run = lambda: embedded.get_run(run_id)  # noqa: E731
            reads = [time_calls(get_run, calls) for _ in range(repeat)]
            local_reads = [time_calls(local_get_run, calls) for _ in range(repeat)]
            floors = [time_calls(healthz, calls) for _ in range(repeat)]
            embedded.close()
        finally:
            use(None, None, root / "client")
            process.terminate()
            process.wait(60)
    remote_rate = points / statistics.median(remote_s)
    local_rate = points / statistics.median(local_s)
    read_rate = statistics.median(r[0] for r in reads)
    local_read_rate = statistics.median(r[0] for r in local_reads)
    floor_rate = statistics.median(f[0] for f in floors)
    return {
        "benchmark": "server",
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "points": points,
        "calls": calls,
        "repeat": repeat,
        "metrics_remote": {"seconds": remote_s, "points_per_s": remote_rate},
        "metrics_local": {"seconds": local_s, "points_per_s": local_rate},
        "metrics_ratio": remote_rate / local_rate,
        "get_run": {"per_s": read_rate, "p50_ms": statistics.median(r[1] for r in reads)},
        "get_run_embedded": {
            "per_s": local_read_rate,
            "p50_ms": statistics.median(r[1] for r in local_reads),
        },
        "healthz": {"per_s": floor_rate, "p50_ms": statistics.median(f[1] for f in floors)},
        "read_ratio": read_rate / local_read_rate,
    }


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Team server vs embedded store, median of {result['repeat']}")
    for column in ("", "rate", "p50 ms", "ratio"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row(
        f"log_metric x{result['points']:,} via server",
        f"{result['metrics_remote']['points_per_s']:,.0f} pts/s", "",
        f"{result['metrics_ratio']:.2f}x of embedded",
    )  # fmt: skip
    table.add_row(
        "log_metric, embedded SQLite",
        f"{result['metrics_local']['points_per_s']:,.0f} pts/s", "", "",
    )  # fmt: skip
    table.add_row(
        f"get_run x{result['calls']:,}, sequential",
        f"{result['get_run']['per_s']:,.0f} req/s", f"{result['get_run']['p50_ms']:.2f}",
        f"{result['read_ratio']:.2f}x of embedded",
    )  # fmt: skip
    table.add_row(
        "get_run, embedded SQLite",
        f"{result['get_run_embedded']['per_s']:,.0f} req/s",
        f"{result['get_run_embedded']['p50_ms']:.2f}", "",
    )  # fmt: skip
    table.add_row(
        "GET /healthz (HTTP floor)",
        f"{result['healthz']['per_s']:,.0f} req/s", f"{result['healthz']['p50_ms']:.2f}", "",
    )  # fmt: skip
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    result = run_benchmark(args.points, args.calls, args.repeat)
    print_table(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
