"""Alert rules: a metric above (or below) a threshold for a while fires; back in range, resolves.

Rules are evaluated by the control plane after each scrape. Each state change is recorded
(firing/resolved history) and, when the rule has a webhook, POSTed to it as JSON.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from lepton.errors import InvalidParameterError

METRICS = (
    "qps",
    "error_rate",
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "batch_size",
    "queue_depth",
    "replica_restarts",
    "drift_psi",
    "rejected",
)
OPS = ("above", "below")


def check_rule(
    metric: str, op: str, threshold: float, for_seconds: float, webhook: str | None
) -> None:
    if metric not in METRICS:
        raise InvalidParameterError(
            f"Unknown alert metric {metric!r}; metrics: {', '.join(METRICS)}."
        )
    if op not in OPS:
        raise InvalidParameterError(
            f"An alert fires when a metric is 'above' or 'below' its threshold, got {op!r}."
        )
    if not isinstance(threshold, int | float) or isinstance(threshold, bool):
        raise InvalidParameterError(f"threshold must be a number, got {threshold!r}.")
    if not isinstance(for_seconds, int | float) or for_seconds < 0:
        raise InvalidParameterError(f"for_seconds must be >= 0, got {for_seconds!r}.")
    if webhook is not None and not webhook.startswith(("http://", "https://")):
        raise InvalidParameterError(f"webhook must be an http(s) URL, got {webhook!r}.")


def parse_duration(text: str | float) -> float:
    if isinstance(text, int | float):
        return float(text)
    from lepton.monitoring._series import parse_since

    return parse_since(text)


def post_webhook(url: str, payload: dict[str, Any], timeout: float = 5.0) -> str:
    """POST ``payload``; returns the HTTP status or the error, for the alert history."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return str(reply.status)
    except urllib.error.HTTPError as exc:
        return str(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        return f"error: {exc}"[:100]


def evaluate(
    workspace: Any, deployment: str, point: dict[str, float], now: float | None = None
) -> list[dict[str, Any]]:
    """Advance every rule of ``deployment`` with the newest ``point``; returns the changes."""
    now = now or time.time()
    changes = []
    for rule in workspace.list_alerts(deployment):
        value = point.get(rule.metric)
        if value is None:
            continue
        breached = value > rule.threshold if rule.op == "above" else value < rule.threshold
        if breached and rule.state == "ok":
            if rule.for_seconds <= 0:
                changes.append(_change(workspace, rule, "firing", value, now))
            else:
                workspace.set_alert_state(rule.id, "pending", now)
        elif breached and rule.state == "pending" and now - (rule.since or now) >= rule.for_seconds:
            changes.append(_change(workspace, rule, "firing", value, rule.since or now))
        elif not breached and rule.state == "firing":
            changes.append(_change(workspace, rule, "resolved", value, None))
        elif not breached and rule.state == "pending":
            workspace.set_alert_state(rule.id, "ok", None)
    return changes


def _change(
    workspace: Any, rule: Any, state: str, value: float, since: float | None
) -> dict[str, Any]:
    message = f"{rule.deployment}: {rule.describe()} is {state} (value {value:.4g})"
    payload = {
        "rule": rule.id,
        "deployment": rule.deployment,
        "metric": rule.metric,
        "state": state,
        "value": value,
        "threshold": rule.threshold,
        "message": message,
        "time": time.time(),
    }
    status = post_webhook(rule.webhook, payload) if rule.webhook else None
    workspace.set_alert_state(rule.id, "firing" if state == "firing" else "ok", since)
    workspace.add_alert_event(rule.id, state, value, message, status)
    return payload
