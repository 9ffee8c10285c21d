"""Metric logging throughput: ``run.log_metric`` against raw ``sqlite3`` inserts of the same points.

DESIGN.md §6 asks metric logging to sustain at least 100,000 points/s and at least half the
speed of raw SQLite inserts, measured as a ratio in one run on one machine. This script logs
``--points`` points through the public API (``lepton.start_run`` / ``run.log_metric``) and
times from the first ``log_metric`` call until the ``with`` block has exited, i.e. until every
point is committed to SQLite. In the same process it inserts the same points with
``sqlite3.executemany`` into an equivalent table (same columns, same index, WAL,
``synchronous=NORMAL``, one commit) in a fresh file; that is the floor: the cost of SQLite
itself, with the rows already built and no Python per point. After each Lepton trial the rows
are counted in the database, so the benchmark cannot report points that were never written.

Usage: ``.venv/bin/python bench/tracking.py [--points 100000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "tracking.json"
TARGET_POINTS_PER_S = 100_000
TARGET_RATIO = 0.5
KEYS = ("loss", "accuracy", "learning_rate", "grad_norm")  # a few metrics per step, as in training

Row = tuple[str, str, int, float, float]


def make_points(count: int) -> list[tuple[str, int, float]]:
    """(key, step, value) triples: each step logs every key, values are plain floats."""
    return [(KEYS[i % len(KEYS)], i // len(KEYS), 1.0 / (i + 1)) for i in range(count)]


def count_metric_rows(db_path: Path, run_id: str) -> int:
    """Rows of ``run_id`` in Lepton's metrics table, read with a separate sqlite3 connection."""
    with sqlite3.connect(db_path) as conn:
        return int(
            conn.execute("SELECT COUNT(*) FROM metrics WHERE run_id = ?", (run_id,)).fetchone()[0]
        )


def time_lepton(points: list[tuple[str, int, float]], home: Path) -> float:
    """Seconds to log ``points`` with ``run.log_metric`` until the ``with`` block has exited."""
    import lepton

    # the home is read from the environment at each start_run, so each trial gets a fresh store
    os.environ["LEPTON_HOME"] = str(home)
    with lepton.start_run(name="bench-tracking") as run:
        log_metric = run.log_metric
        started = time.perf_counter()
        for key, step, value in points:
            log_metric(key, value, step=step)
    elapsed = time.perf_counter() - started
    db_path = home / "lepton.db"
    if not db_path.is_file():
        raise SystemExit(
            f"Lepton did not write to {db_path}; check LEPTON_* variables and lepton.yaml."
        )
    written = count_metric_rows(db_path, run.id)
    if written != len(points):
        raise SystemExit(f"Lepton logged {len(points)} points but {written} are in {db_path}.")
    return elapsed


def time_raw(points: list[tuple[str, int, float]], db_path: Path) -> float:
    """Seconds for one ``executemany`` of the same points plus one commit, into a fresh file."""
    run_id = "0" * 32
    now = time.time()
    rows: list[Row] = [(run_id, key, step, now, value) for key, step, value in points]
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE metrics (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, key TEXT NOT NULL, "
            "step BIGINT NOT NULL, timestamp DOUBLE NOT NULL, value DOUBLE NOT NULL)"
        )
        conn.execute("CREATE INDEX ix_metrics_run_key_step ON metrics (run_id, key, step)")
        conn.commit()
        started = time.perf_counter()
        conn.executemany(
            "INSERT INTO metrics (run_id, key, step, timestamp, value) VALUES (?, ?, ?, ?, ?)", rows
        )
        conn.commit()
        elapsed = time.perf_counter() - started
        written = conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    finally:
        conn.close()
    if written != len(points):
        raise SystemExit(
            f"Raw sqlite3 inserted {len(points)} points but {written} are in {db_path}."
        )
    return elapsed


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "arch": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def run_benchmark(points_count: int, repeat: int) -> dict[str, Any]:
    points = make_points(points_count)
    lepton_s: list[float] = []
    raw_s: list[float] = []
    with tempfile.TemporaryDirectory(prefix="lepton-bench-") as folder:
        for trial in range(repeat):
            # alternate the two so drift in the machine's speed hits both alike
            lepton_s.append(time_lepton(points, Path(folder) / f"home-{trial}"))
            raw_s.append(time_raw(points, Path(folder) / f"raw-{trial}.db"))
    lepton_rate = points_count / statistics.median(lepton_s)
    raw_rate = points_count / statistics.median(raw_s)
    ratio = lepton_rate / raw_rate
    return {
        "benchmark": "tracking",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "points": points_count,
        "keys": len(KEYS),
        "repeat": repeat,
        "lepton": {
            "seconds": lepton_s,
            "median_s": statistics.median(lepton_s),
            "points_per_s": lepton_rate,
        },
        "raw_sqlite": {
            "seconds": raw_s,
            "median_s": statistics.median(raw_s),
            "points_per_s": raw_rate,
        },
        "ratio": ratio,
        "targets": {"points_per_s": TARGET_POINTS_PER_S, "ratio": TARGET_RATIO},
        "pass": {
            "points_per_s": lepton_rate >= TARGET_POINTS_PER_S,
            "ratio": ratio >= TARGET_RATIO,
        },
    }


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def verdict(ok: bool) -> str:
        return "[green]PASS[/green]" if ok else "[red]FAIL[/red]"

    lepton, raw = result["lepton"], result["raw_sqlite"]
    table = Table(
        title=f"Metric logging: {result['points']:,} points, median of {result['repeat']}",
        caption=(
            f"{result['machine']['cpus']} CPUs {result['machine']['arch']}, "
            f"Python {result['machine']['python']}, SQLite {result['machine']['sqlite']}"
        ),
    )
    for column in ("", "median s", "points/s", "target", "result"):
        table.add_column(column, justify="left" if not column else "right")
    table.add_row(
        "lepton run.log_metric",
        f"{lepton['median_s']:.3f}",
        f"{lepton['points_per_s']:,.0f}",
        f">= {TARGET_POINTS_PER_S:,}",
        verdict(result["pass"]["points_per_s"]),
    )
    table.add_row(
        "raw sqlite3 executemany",
        f"{raw['median_s']:.3f}",
        f"{raw['points_per_s']:,.0f}",
        "",
        "",
    )
    table.add_row(
        "ratio lepton / raw",
        "",
        f"{result['ratio']:.2f}x",
        f">= {TARGET_RATIO}x",
        verdict(result["pass"]["ratio"]),
    )
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="points per trial")
    parser.add_argument(
        "--repeat", type=int, default=5, help="trials of each; the median is reported"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    if args.points < len(KEYS) or args.repeat < 1:
        parser.error(f"--points must be >= {len(KEYS)} and --repeat >= 1.")

    # a fresh home before lepton is imported: nothing from ~/.lepton or a project folder leaks in
    for name in [n for n in os.environ if n.startswith("LEPTON_")]:
        del os.environ[name]
    output = args.output.resolve()
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="lepton-bench-cwd-") as cwd:
        os.chdir(cwd)  # no lepton.yaml above the current directory
        try:
            os.environ["LEPTON_HOME"] = str(Path(cwd) / "home")
            result = run_benchmark(args.points, args.repeat)
        finally:
            os.chdir(here)

    print_table(result)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
