"""From replicas' Prometheus counters to one point per deployment: QPS, error rate, latency
percentiles and batch size over the last scrape interval."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$")


@dataclass
class Snapshot:
    """Cumulative counters of one replica at one moment."""

    requests: dict[str, float] = field(default_factory=dict)  # status -> count
    latency: dict[float, float] = field(default_factory=dict)  # upper bound -> cumulative count
    batch: dict[float, float] = field(default_factory=dict)
    batch_sum: float = 0.0
    batch_count: float = 0.0
    queue_depth: float = 0.0
    in_flight: float = 0.0


def parse(text: str) -> Snapshot:
    snap = Snapshot()
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        name, labels, value = match["name"], match["labels"] or "", float(match["value"])
        if name == "lepton_requests_total":
            snap.requests[labels.split('"')[1]] = value
        elif name in ("lepton_request_seconds_bucket", "lepton_batch_size_bucket"):
            bound = labels.split('"')[1]
            target = snap.latency if name.startswith("lepton_request") else snap.batch
            target[float("inf") if bound == "+Inf" else float(bound)] = value
        elif name == "lepton_batch_size_sum":
            snap.batch_sum = value
        elif name == "lepton_batch_size_count":
            snap.batch_count = value
        elif name == "lepton_queue_depth":
            snap.queue_depth = value
        elif name == "lepton_in_flight":
            snap.in_flight = value
    return snap


def _delta(now: dict[float, float] | dict[str, float], before: dict | None) -> dict:  # type: ignore[type-arg]
    if before is None:
        return dict(now)
    out = {}
    for key, value in now.items():
        diff = value - before.get(key, 0.0)
        out[key] = value if diff < 0 else diff  # a restarted replica starts from zero
    return out


def quantile(buckets: dict[float, float], q: float) -> float | None:
    """The q-quantile from cumulative histogram buckets, interpolated inside its bucket."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


def aggregate(pairs: list[tuple[Snapshot, Snapshot | None]], seconds: float) -> dict[str, float]:
    """One point from (current, previous) snapshots of every replica over ``seconds``."""
    requests: dict[str, float] = {}
    latency: dict[float, float] = {}
    batch_sum = batch_count = queue = in_flight = 0.0
    for now, before in pairs:
        for status, count in _delta(now.requests, before.requests if before else None).items():
            requests[status] = requests.get(status, 0.0) + count
        for bound, count in _delta(now.latency, before.latency if before else None).items():
            latency[bound] = latency.get(bound, 0.0) + count
        batch_sum += now.batch_sum - (
            before.batch_sum if before and now.batch_sum >= before.batch_sum else 0.0
        )
        batch_count += now.batch_count - (
            before.batch_count if before and now.batch_count >= before.batch_count else 0.0
        )
        queue += now.queue_depth
        in_flight += now.in_flight
    total = sum(requests.values())
    errors = sum(c for s, c in requests.items() if s.startswith("5"))
    point = {
        "requests": total,
        "qps": total / seconds if seconds > 0 else 0.0,
        "error_rate": errors / total if total else 0.0,
        "rejected": requests.get("429", 0.0),
        "batch_size": batch_sum / batch_count if batch_count else 0.0,
        "queue_depth": queue,
        "in_flight": in_flight,
    }
    for name, q in (("p50_latency_ms", 0.5), ("p95_latency_ms", 0.95), ("p99_latency_ms", 0.99)):
        value = quantile(latency, q)
        point[name] = value * 1000 if value is not None else 0.0
    return point
