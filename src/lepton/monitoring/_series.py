"""Metric series per deployment, kept compact: raw points for an hour, one-minute points for a
day, ten-minute points for a month. Older points are rolled up, then deleted."""

from __future__ import annotations

import time
from typing import Any

RAW, MINUTE, TEN_MINUTES = 0, 60, 600
RETENTION = {RAW: 3600.0, MINUTE: 86_400.0, TEN_MINUTES: 30 * 86_400.0}
_SUMMED = ("requests", "rejected")
# rates and gauges: each point covers one scrape interval, so their plain mean is the rate
# over the span (weighting QPS by requests would report a busy scrape's rate for a quiet minute)
_TIME_MEANS = ("qps", "queue_depth", "in_flight", "replicas")


def merge(points: list[dict[str, Any]]) -> dict[str, float]:
    """One point standing for several: sums of counts, means over time of rates and gauges,
    request-weighted means of the rest (error rate, median latency...), max of tails."""
    if not points:
        return {}
    weights = [max(p.get("requests", 0.0), 1e-9) for p in points]
    total = sum(weights)
    merged: dict[str, float] = {}
    keys = {k for p in points for k in p if k != "ts"}
    for key in keys:
        values = [float(p.get(key, 0.0)) for p in points]
        if key in _SUMMED:
            merged[key] = sum(values)
        elif key in ("p95_latency_ms", "p99_latency_ms", "replica_restarts", "drift_psi"):
            merged[key] = max(values)
        elif key in _TIME_MEANS:
            merged[key] = sum(values) / len(values)
        else:
            merged[key] = sum(v * w for v, w in zip(values, weights, strict=True)) / total
    return merged


def rollup(workspace: Any, name: str, now: float | None = None) -> None:
    """Fold finished minutes and ten-minute spans into coarser points; drop what is too old."""
    now = now or time.time()
    for source, target in ((RAW, MINUTE), (MINUTE, TEN_MINUTES)):
        last = workspace.deployment_series(name, target, 0.0)
        start = (last[-1]["ts"] + target) if last else None
        points = workspace.deployment_series(name, source, start or 0.0)
        if not points:
            continue
        start = start if start is not None else points[0]["ts"] - points[0]["ts"] % target
        while start + target <= now:
            bucket = [p for p in points if start <= p["ts"] < start + target]
            if bucket:
                workspace.add_deployment_point(name, target, start, merge(bucket))
            start += target
    for resolution, keep in RETENTION.items():
        workspace.prune_deployment_series(name, resolution, now - keep)


def parse_since(text: str | None) -> float:
    """'15m', '1h', '2d' -> seconds (default one hour)."""
    from lepton.errors import InvalidParameterError

    if not text:
        return 3600.0
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    try:
        return float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError):
        raise InvalidParameterError(
            f"Invalid duration {text!r}: use a number and s, m, h or d, e.g. 15m or 1h."
        ) from None


def series(workspace: Any, name: str, since: str | None = None) -> list[dict[str, Any]]:
    """The finest points covering the last ``since`` (raw for up to an hour, then coarser)."""
    seconds = parse_since(since)
    resolution = (
        RAW
        if seconds <= RETENTION[RAW]
        else MINUTE
        if seconds <= RETENTION[MINUTE]
        else TEN_MINUTES
    )
    return list(workspace.deployment_series(name, resolution, time.time() - seconds))
