"""From a replica's Prometheus text to one point per deployment: parse, quantile, aggregate."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from lepton.monitoring._scrape import Snapshot, aggregate, parse, quantile
from lepton.serving._metrics import LATENCY_BUCKETS, ServerMetrics

INF = float("inf")


def replica_metrics(
    latencies: dict[int, list[float]], batches: Sequence[int] = ()
) -> ServerMetrics:
    """A replica's real metrics object after requests with these statuses and latencies."""
    metrics = ServerMetrics()
    for status, seconds in latencies.items():
        for value in seconds:
            metrics.record(status, value)
    for rows in batches:
        metrics.record_batch(rows, 0.001)
    return metrics


def test_parse_reads_what_a_replica_renders() -> None:
    metrics = replica_metrics({200: [0.002, 0.003, 0.03], 422: [0.0004], 503: [0.2]}, [1, 3, 8])
    metrics.in_flight = 2
    metrics.queue_depth = lambda: 5

    snap = parse(metrics.render())

    assert snap.requests == {"200": 3.0, "422": 1.0, "503": 1.0}
    assert set(snap.latency) == {*LATENCY_BUCKETS, INF}
    assert snap.latency[0.0005] == 1 and snap.latency[0.0025] == 2 and snap.latency[0.005] == 3
    assert snap.latency[0.05] == 4 and snap.latency[0.25] == snap.latency[INF] == 5
    assert (snap.batch_sum, snap.batch_count) == (12.0, 3.0)
    assert snap.batch[1.0] == 1 and snap.batch[4.0] == 2 and snap.batch[INF] == 3
    assert (snap.queue_depth, snap.in_flight) == (5.0, 2.0)


def test_parse_skips_comments_and_unknown_lines() -> None:
    text = "\n".join(
        [
            "# HELP lepton_requests_total Prediction requests by HTTP status.",
            "# TYPE lepton_requests_total counter",
            'lepton_requests_total{status="200"} 7',
            "process_cpu_seconds_total 12.5",
            "not a metric line at all",
            "",
            "lepton_in_flight 1",
        ]
    )
    snap = parse(text)
    assert snap.requests == {"200": 7.0} and snap.in_flight == 1.0 and snap.latency == {}


def test_quantile_interpolates_inside_the_bucket() -> None:
    buckets = {0.1: 50.0, 0.2: 100.0, INF: 100.0}
    assert quantile(buckets, 0.5) == pytest.approx(0.1)
    assert quantile(buckets, 0.75) == pytest.approx(0.15)
    assert quantile(buckets, 0.25) == pytest.approx(0.05)  # the first bucket starts at 0
    assert quantile({0.1: 0.0, INF: 4.0}, 0.99) == 0.1  # beyond the last bound: that bound
    assert quantile({}, 0.5) is None
    assert quantile({0.1: 0.0, INF: 0.0}, 0.5) is None  # no requests: no latency


def test_quantile_is_within_one_bucket_of_the_true_value() -> None:
    rng = np.random.default_rng(0)
    latencies = rng.lognormal(mean=-5, sigma=1.0, size=5000)  # around 7 ms
    snap = parse(replica_metrics({200: list(latencies)}).render())
    bounds = [0.0, *LATENCY_BUCKETS]
    for q in (0.5, 0.95, 0.99):
        true = float(np.quantile(latencies, q))
        low = max(b for b in bounds if b <= true)
        high = min(b for b in [*bounds, INF] if b > true)
        estimate = quantile(snap.latency, q)
        assert estimate is not None and low <= estimate <= high, (q, true, estimate)


def test_aggregate_over_replicas_and_an_interval() -> None:
    before_a = parse(replica_metrics({200: [0.001] * 10}, [1] * 10).render())
    now_a = replica_metrics({200: [0.001] * 10}, [1] * 10)
    for _ in range(40):
        now_a.record(200, 0.004)
    now_a.record(500, 0.004)
    now_a.record(429, 0.0001)
    now_a.record_batch(4, 0.001)
    now_a.record_batch(6, 0.001)
    new_b = replica_metrics({200: [0.02] * 8}, [8])  # first scrape of a new replica

    point = aggregate([(parse(now_a.render()), before_a), (parse(new_b.render()), None)], 5.0)

    assert point["requests"] == 50  # 42 on replica a in the interval, 8 on b
    assert point["qps"] == pytest.approx(10.0)
    assert point["error_rate"] == pytest.approx(1 / 50)  # only 5xx count as errors
    assert point["rejected"] == 1
    assert point["batch_size"] == pytest.approx((4 + 6 + 8) / 3)
    assert 2.5 <= point["p50_latency_ms"] <= 5.0  # most requests took 4 ms
    assert 10.0 <= point["p99_latency_ms"] <= 25.0  # the slowest took 20 ms
    assert point["p50_latency_ms"] <= point["p95_latency_ms"] <= point["p99_latency_ms"]


def test_aggregate_counts_a_reset_counter_from_zero() -> None:
    before = parse(replica_metrics({200: [0.001] * 100}, [2] * 50).render())
    restarted = parse(replica_metrics({200: [0.001] * 6}, [3, 3]).render())

    point = aggregate([(restarted, before)], 2.0)

    assert point["requests"] == 6 and point["qps"] == pytest.approx(3.0)  # not 6 - 100
    assert point["batch_size"] == pytest.approx(3.0)
    assert point["p99_latency_ms"] == pytest.approx(1.0, rel=0.01)


def test_aggregate_of_nothing_is_a_quiet_point() -> None:
    point = aggregate([], 5.0)
    assert point["requests"] == point["qps"] == point["error_rate"] == 0.0
    assert point["p99_latency_ms"] == 0.0 and point["batch_size"] == 0.0
    quiet = aggregate([(Snapshot(), Snapshot())], 0.0)
    assert quiet["qps"] == 0.0  # no division by a zero interval
