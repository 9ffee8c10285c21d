"""Prometheus metrics of one replica, kept in plain Python (a few hundred ns per request).

Exposed at ``/metrics`` in the Prometheus text format: requests by status, a latency
histogram, a batch-size histogram, queue depth, in-flight requests and model load time.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        out, running = [], 0
        sep = "," if labels else ""
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {running}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        suffix = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{suffix} {self.sum}", f"{name}_count{suffix} {self.count}"]
        return out


class ServerMetrics:
    def __init__(self) -> None:
        self.requests: dict[int, int] = {}
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batch_size = Histogram(BATCH_BUCKETS)
        self.predict_seconds = Histogram(LATENCY_BUCKETS)
        self.in_flight = 0
        self.model_load_seconds = 0.0
        self.queue_depth = lambda: 0

    def record(self, status: int, seconds: float) -> None:
        self.requests[status] = self.requests.get(status, 0) + 1
        self.latency.observe(seconds)

    def record_batch(self, rows: int, seconds: float) -> None:
        self.batch_size.observe(rows)
        self.predict_seconds.observe(seconds)

    def render(self) -> str:
        lines = [
            "# HELP lepton_requests_total Prediction requests by HTTP status.",
            "# TYPE lepton_requests_total counter",
        ]
        lines += [
            f'lepton_requests_total{{status="{s}"}} {n}' for s, n in sorted(self.requests.items())
        ]
        lines += [
            "# HELP lepton_request_seconds Latency of prediction requests.",
            "# TYPE lepton_request_seconds histogram",
        ]
        lines += self.latency.lines("lepton_request_seconds")
        lines += [
            "# HELP lepton_batch_size Rows per model call.",
            "# TYPE lepton_batch_size histogram",
        ]
        lines += self.batch_size.lines("lepton_batch_size")
        lines += [
            "# HELP lepton_predict_seconds Time of each model call.",
            "# TYPE lepton_predict_seconds histogram",
        ]
        lines += self.predict_seconds.lines("lepton_predict_seconds")
        lines += [
            "# HELP lepton_queue_depth Rows waiting for the model.",
            "# TYPE lepton_queue_depth gauge",
            f"lepton_queue_depth {self.queue_depth()}",
            "# HELP lepton_in_flight Requests being handled.",
            "# TYPE lepton_in_flight gauge",
            f"lepton_in_flight {self.in_flight}",
            "# HELP lepton_model_load_seconds Time it took to load the model.",
            "# TYPE lepton_model_load_seconds gauge",
            f"lepton_model_load_seconds {self.model_load_seconds}",
        ]
        return "\n".join(lines) + "\n"
