"""Metric series per deployment: merging points, rolling them up, retention, reading them back."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lepton.errors import DeploymentNotFoundError, InvalidParameterError
from lepton.monitoring._series import (
    MINUTE,
    RAW,
    RETENTION,
    TEN_MINUTES,
    merge,
    parse_since,
    rollup,
    series,
)

BASE = 1_800_000_000.0  # a multiple of 600: minutes and ten-minute spans start on it


def test_merge_sums_counts_averages_rates_and_keeps_the_worst_tail() -> None:
    quiet = {
        "ts": 0.0,
        "requests": 10.0,
        "rejected": 1.0,
        "qps": 2.0,
        "error_rate": 0.1,
        "p50_latency_ms": 5.0,
        "p99_latency_ms": 50.0,
        "replica_restarts": 0.0,
        "drift_psi": 0.1,
    }
    busy = {
        "ts": 5.0,
        "requests": 30.0,
        "rejected": 0.0,
        "qps": 6.0,
        "error_rate": 0.0,
        "p50_latency_ms": 3.0,
        "p99_latency_ms": 20.0,
        "replica_restarts": 1.0,
        "drift_psi": 0.3,
    }
    merged = merge([quiet, busy])
    assert "ts" not in merged
    assert (merged["requests"], merged["rejected"]) == (40.0, 1.0)
    assert merged["qps"] == pytest.approx(4.0)  # 40 requests over two 5 s intervals
    assert merged["error_rate"] == pytest.approx(1 / 40)  # one failed request of 40
    assert merged["p50_latency_ms"] == pytest.approx((5 * 10 + 3 * 30) / 40)
    assert (merged["p99_latency_ms"], merged["replica_restarts"], merged["drift_psi"]) == (
        50.0,
        1.0,
        0.3,
    )


def test_merge_of_idle_points_and_of_nothing() -> None:
    idle = [{"ts": t, "requests": 0.0, "qps": 0.0, "p50_latency_ms": 0.0} for t in (0.0, 5.0)]
    assert merge(idle) == {"requests": 0.0, "qps": 0.0, "p50_latency_ms": 0.0}
    assert merge([]) == {}
    one_busy = [*idle, {"ts": 10.0, "requests": 60.0, "qps": 12.0}]
    assert merge(one_busy)["qps"] == pytest.approx(4.0)  # a busy 5 s in 15 s


def raw_points(workspace: Any, name: str, start: float, seconds: int) -> None:
    """One raw point every 5 s: 10 requests each, p99 equal to its offset from ``start``."""
    for offset in range(0, seconds, 5):
        workspace.add_deployment_point(
            name,
            RAW,
            start + offset,
            {"requests": 10.0, "qps": 2.0, "p99_latency_ms": float(offset), "error_rate": 0.0},
        )


def test_rollup_folds_finished_minutes_once(workspace: Any, deployment: str) -> None:
    raw_points(workspace, deployment, BASE, 180)  # three minutes

    rollup(workspace, deployment, now=BASE + 170)  # the third minute is not over yet
    minutes = workspace.deployment_series(deployment, MINUTE, 0.0)
    assert [p["ts"] for p in minutes] == [BASE, BASE + 60]
    assert minutes[0]["requests"] == 120.0 and minutes[0]["qps"] == pytest.approx(2.0)
    assert (minutes[0]["p99_latency_ms"], minutes[1]["p99_latency_ms"]) == (55.0, 115.0)

    rollup(workspace, deployment, now=BASE + 170)  # again: nothing new
    assert len(workspace.deployment_series(deployment, MINUTE, 0.0)) == 2

    rollup(workspace, deployment, now=BASE + 200)
    minutes = workspace.deployment_series(deployment, MINUTE, 0.0)
    assert [p["ts"] for p in minutes] == [BASE, BASE + 60, BASE + 120]
    assert workspace.deployment_series(deployment, TEN_MINUTES, 0.0) == []

    rollup(workspace, deployment, now=BASE + 700)  # the first ten minutes are over
    spans = workspace.deployment_series(deployment, TEN_MINUTES, 0.0)
    assert [(p["ts"], p["requests"], p["p99_latency_ms"]) for p in spans] == [(BASE, 360.0, 175.0)]
    assert len(workspace.deployment_series(deployment, RAW, 0.0)) == 36  # raw kept an hour


def test_rollup_drops_points_past_their_retention(workspace: Any, deployment: str) -> None:
    now = BASE + 100 * 86_400
    old_raw, new_raw = now - RETENTION[RAW] - 60, now - 10
    for ts, requests in ((old_raw, 7.0), (new_raw, 3.0)):
        workspace.add_deployment_point(deployment, RAW, ts, {"requests": requests, "qps": 1.0})
    workspace.add_deployment_point(
        deployment, MINUTE, now - RETENTION[MINUTE] - 600, {"requests": 1.0}
    )
    workspace.add_deployment_point(
        deployment, TEN_MINUTES, now - RETENTION[TEN_MINUTES] - 600, {"requests": 1.0}
    )

    rollup(workspace, deployment, now=now)

    assert [p["ts"] for p in workspace.deployment_series(deployment, RAW, 0.0)] == [new_raw]
    minutes = workspace.deployment_series(deployment, MINUTE, 0.0)
    assert all(p["ts"] >= now - RETENTION[MINUTE] for p in minutes)
    assert [p["requests"] for p in minutes] == [7.0, 3.0]  # the old raw point lives on, rolled up
    spans = workspace.deployment_series(deployment, TEN_MINUTES, 0.0)
    assert all(p["ts"] >= now - RETENTION[TEN_MINUTES] for p in spans)


def test_series_reads_the_finest_resolution_that_covers_the_window(
    workspace: Any, deployment: str
) -> None:
    now = time.time()
    workspace.add_deployment_point(deployment, RAW, now - 30, {"qps": 1.0})
    workspace.add_deployment_point(deployment, RAW, now - 1200, {"qps": 2.0})
    workspace.add_deployment_point(deployment, MINUTE, now - 5400, {"qps": 3.0})
    workspace.add_deployment_point(deployment, TEN_MINUTES, now - 3 * 86_400, {"qps": 4.0})

    assert [p["qps"] for p in series(workspace, deployment, "15m")] == [1.0]
    assert [p["qps"] for p in series(workspace, deployment, None)] == [2.0, 1.0]  # one hour
    assert [p["qps"] for p in series(workspace, deployment, "2h")] == [3.0]
    assert [p["qps"] for p in series(workspace, deployment, "7d")] == [4.0]
    with pytest.raises(DeploymentNotFoundError, match="nope"):
        series(workspace, "nope", "1h")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("15m", 900.0), ("1h", 3600.0), ("1.5h", 5400.0), ("2d", 172_800.0)],
)
def test_parse_since(text: str, seconds: float) -> None:
    assert parse_since(text) == seconds


def test_parse_since_defaults_to_an_hour_and_explains_bad_input() -> None:
    assert parse_since(None) == parse_since("") == 3600.0
    for bad in ("1w", "abc", "h", "15 minutes"):
        with pytest.raises(InvalidParameterError, match=f"Invalid duration '{bad}'.*15m or 1h"):
            parse_since(bad)
