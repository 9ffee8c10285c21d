"""Dashboard page render times on a workspace with 1,000 runs, against the JSON API call that
returns the same data, in one run.

DESIGN.md and issue 7 ask every page to render in under 300 ms server-side with 1,000 runs.
The workspace is built straight through ``LocalWorkspace`` (the server's own store, batched
metric inserts, so setup takes seconds): ``--runs`` runs over four projects, each with 5 params
and 3 metrics x 50 steps, some failed, one more run with a 100,000-point curve (its chart JSON
is downsampled to 2,000 points), and one dataset registered through the SDK over REST.
The server is ``create_app`` under uvicorn in a thread, as ``tests/live_server.py`` starts it;
a thin ASGI wrapper measures the time from the request's arrival to its last body byte
(server-side), and the client measures the request end to end on one keep-alive connection.
Each page and its API baseline get ``--requests`` requests after 3 of warm-up; p50 and p95 of
both, the page/API ratio of the p50s, and PASS when the page's server-side p95 is under the
budget. A page that answers 404 (not built yet) is reported as n/a.

Usage: ``.venv/bin/python bench/dashboard.py [--runs 1000] [--requests 30]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "dashboard.json"
BUDGET_MS = 300.0
PROJECTS = ("credit", "churn", "fraud", "pricing")
METRICS = ("loss", "accuracy", "auc")
STEPS = 50
LONG_POINTS = 100_000
OTHER_PAGES = (  # pages other helpers build, with the API call that lists the same
    ("/models", "/api/v1/models"),
    ("/deployments", "/api/v1/deployments"),
    ("/jobs", "/api/v1/jobs"),
    ("/alerts", "/api/v1/alerts"),
    ("/audit", "/api/v1/audit?limit=50"),
    ("/settings", "/api/v1/users"),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerTiming:
    """ASGI wrapper: the time from a request's arrival to its last body byte, per request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(event: Any) -> None:
            if event["type"] == "http.response.body" and not event.get("more_body", False):
                self.last_ms = (time.perf_counter() - started) * 1000
            await send(event)

        await self.app(scope, receive, timed_send)


def fill(workspace: Any, runs: int) -> tuple[list[str], str]:
    """``runs`` finished (or failed) runs with params and metric curves (their ids, newest
    last), and the id of one more run with a ``LONG_POINTS``-point loss curve."""
    rng = random.Random(0)
    ids: list[str] = []
    long = workspace.create_run(PROJECTS[0], "long-training")
    now = time.time()
    workspace.log_metrics([(long.id, "loss", i, now, 1 / (1 + i)) for i in range(LONG_POINTS)])
    workspace.end_run(long.id, "finished")
    points: list[tuple[str, str, int, float, float]] = []
    for i in range(runs):
        project = PROJECTS[i % len(PROJECTS)]
        run = workspace.create_run(project, f"{project}-trial-{i:04d}", tags={"sweep": "bench"})
        workspace.log_params(
            run.id,
            {"lr": 10 ** rng.uniform(-4, -1), "depth": rng.randint(2, 12), "model": "lightgbm",
             "batch_size": rng.choice([32, 64, 128]), "seed": i},
        )  # fmt: skip
        now = time.time()
        for step in range(STEPS):
            decay = 1 / (1 + step * rng.uniform(0.05, 0.2))
            points += [
                (run.id, "loss", step, now, decay),
                (run.id, "accuracy", step, now, 1 - decay / 2),
                (run.id, "auc", step, now, 1 - decay / 3),
            ]
        ids.append(run.id)
        if len(points) >= 50_000:
            workspace.log_metrics(points)
            points = []
        status = "failed" if i % 17 == 0 else "finished"
        workspace.end_run(run.id, status, "ValueError: diverged" if status == "failed" else None)
    workspace.log_metrics(points)
    return ids, long.id


def register_dataset(url: str, token: str, home: Path) -> str:
    """One table registered through the SDK over REST (so its profile is the real one)."""
    import numpy as np
    import pandas as pd

    import lepton
    from lepton.workspace import reset

    os.environ.update(
        LEPTON_URL=url,
        LEPTON_TOKEN=token,
        LEPTON_HOME=str(home),
        LEPTON_CREDENTIALS=str(home / "no-credentials.json"),
    )
    reset()
    rng = np.random.default_rng(0)
    rows = 20_000
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "income": rng.lognormal(10, 1, rows),
            "city": rng.choice(["paris", "lyon", "nice", "lille", "nantes"], rows),
            "email": [f"user{i}@example.com" for i in range(rows)],
            "default": rng.choice(["yes", "no"], rows),
        }
    )
    lepton.Dataset.from_pandas(frame, target="default", name="credit").register("credit")
    reset()
    return "credit"


def start(home: Path) -> tuple[Any, Any, str, str, ServerTiming, threading.Thread]:
    import uvicorn

    from lepton.config import load_settings
    from lepton.server import ServerOptions, create_app

    settings = load_settings(env={"LEPTON_HOME": str(home), "LEPTON_URL": ""})
    port = free_port()
    app = create_app(settings, ServerOptions(port=port, scheduler=False, rate_limit=0))
    state = app.state.lepton
    token = state.security.bootstrap()
    timing = ServerTiming(app)
    config = uvicorn.Config(timing, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        if not thread.is_alive() or time.time() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.01)
    return server, state, f"http://127.0.0.1:{port}", token, timing, thread


def measure(client: Any, timing: ServerTiming, paths: list[str], requests: int) -> dict[str, Any]:
    """p50/p95 (client and server side, ms) of ``requests`` rounds of GETs of ``paths`` (one
    round = every path once, e.g. the 5 API calls that return what one page shows)."""
    client_ms, server_ms = [], []
    for round_ in range(requests + 3):
        total_client = total_server = 0.0
        for path in paths:
            started = time.perf_counter()
            response = client.get(path)
            total_client += (time.perf_counter() - started) * 1000
            total_server += timing.last_ms
            if response.status_code == 404:
                return {"status": 404}
            if response.status_code != 200:
                raise SystemExit(
                    f"GET {path} answered {response.status_code}: {response.text[:300]}"
                )
        if round_ >= 3:  # warm-up rounds are not counted
            client_ms.append(total_client)
            server_ms.append(total_server)

    def p(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]

    return {
        "status": 200,
        "p50_ms": statistics.median(client_ms),
        "p95_ms": p(client_ms, 95),
        "server_p50_ms": statistics.median(server_ms),
        "server_p95_ms": p(server_ms, 95),
    }


def cases(ids: list[str], long: str, dataset: str) -> list[tuple[str, str, list[str]]]:
    """(label, page, the API calls that return the same data) for every page."""
    run, five = ids[-1], ids[-5:]
    return [
        ("/", "/", ["/api/v1/runs?limit=10", "/api/v1/deployments", "/api/v1/alerts"]),
        ("/runs", "/runs", ["/api/v1/runs?limit=50"]),
        ("/runs?sort=metric:loss", "/runs?sort=metric:loss&order=asc", ["/api/v1/runs?limit=50"]),
        ("/runs/{id}", f"/runs/{run}", [f"/api/v1/runs/{run}", f"/api/v1/runs/{run}/artifacts"]),
        (
            "/runs/{id}/metrics.json?key=loss",
            f"/runs/{run}/metrics.json?key=loss",
            [f"/api/v1/runs/{run}/metrics?key=loss"],
        ),
        ("/runs/{id}, 100k points", f"/runs/{long}", [f"/api/v1/runs/{long}"]),
        (
            "/runs/{id}/metrics.json, 100k points",
            f"/runs/{long}/metrics.json?key=loss",
            [f"/api/v1/runs/{long}/metrics?key=loss"],
        ),
        (
            "/runs/compare?ids=(5 runs)",
            "/runs/compare?ids=" + ",".join(five),
            [f"/api/v1/runs/{i}" for i in five],
        ),
        ("/datasets", "/datasets", ["/api/v1/datasets"]),
        ("/datasets/{name}", f"/datasets/{dataset}", [f"/api/v1/datasets/{dataset}/versions"]),
        *((page, page, [api]) for page, api in OTHER_PAGES),
    ]


def run_benchmark(runs: int, requests: int) -> dict[str, Any]:
    import httpx

    with tempfile.TemporaryDirectory(prefix="lepton-bench-dashboard-") as folder:
        root = Path(folder)
        server, state, url, token, timing, thread = start(root / "server")
        try:
            started = time.perf_counter()
            ids, long = fill(state.workspace, runs)
            dataset = register_dataset(url, token, root / "client")
            setup_s = time.perf_counter() - started
            headers = {"authorization": f"Bearer {token}"}
            pages = {}
            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                for label, page, api in cases(ids, long, dataset):
                    shown = measure(client, timing, [page], requests)
                    if shown["status"] == 404:
                        pages[label] = {"page": None, "api_paths": api}
                        continue
                    baseline = measure(client, timing, api, requests)
                    pages[label] = {
                        "page": shown,
                        "api": baseline,
                        "api_paths": api,
                        "ratio": shown["server_p50_ms"] / baseline["server_p50_ms"],
                        "pass": shown["server_p95_ms"] < BUDGET_MS,
                    }
        finally:
            server.should_exit = True
            thread.join(60)
    return {
        "benchmark": "dashboard",
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "runs": runs,
        "points": runs * len(METRICS) * STEPS + LONG_POINTS,
        "requests": requests,
        "budget_ms": BUDGET_MS,
        "setup_s": setup_s,
        "pages": pages,
    }


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Dashboard pages, {result['runs']:,} runs, {result['requests']} requests each "
        f"(ms; server-side / end to end)"
    )
    for column in ("page", "p50", "p95", "API p50", "API p95", "page/API", f"< {BUDGET_MS:.0f} ms"):
        table.add_column(column, justify="left" if column == "page" else "right")
    for shown, row in result["pages"].items():
        if row["page"] is None:
            table.add_row(shown, "n/a", "n/a", "", "", "", "n/a")
            continue
        page, api = row["page"], row["api"]
        table.add_row(
            shown,
            f"{page['server_p50_ms']:.1f} / {page['p50_ms']:.1f}",
            f"{page['server_p95_ms']:.1f} / {page['p95_ms']:.1f}",
            f"{api['server_p50_ms']:.1f} / {api['p50_ms']:.1f}",
            f"{api['server_p95_ms']:.1f} / {api['p95_ms']:.1f}",
            f"{row['ratio']:.2f}x",
            "PASS" if row["pass"] else "FAIL",
        )
    Console(width=150).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    if args.runs < 5 or args.requests < 5:
        parser.error("--runs and --requests must be at least 5")
    for name in [n for n in os.environ if n.startswith("LEPTON_")]:
        del os.environ[name]
    result = run_benchmark(args.runs, args.requests)
    print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    failed = [p for p, row in result["pages"].items() if row["page"] and not row["pass"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
