"""Alert rules: validation, the ok -> pending -> firing -> resolved state machine, webhooks."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from lepton.errors import DeploymentNotFoundError, InvalidParameterError, NotFoundError
from lepton.monitoring import (
    METRICS,
    alert_history,
    create_alert,
    delete_alert,
    list_alerts,
)
from lepton.monitoring._alerts import check_rule, evaluate, post_webhook

T0 = 1_800_000_000.0


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it and answers
    ``status`` (200 unless told otherwise)."""

    def __init__(self, status: int = 200) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                received.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("content-type"),
                        "body": json.loads(body),
                    }
                )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    @property
    def states(self) -> list[str]:
        return [r["body"]["state"] for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# validation --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("latency", "above", 1.0, 0.0, None), "Unknown alert metric 'latency'; metrics: qps, "),
        (("qps", "over", 1.0, 0.0, None), "'above' or 'below' its threshold, got 'over'"),
        (("qps", "above", "high", 0.0, None), "threshold must be a number, got 'high'"),
        (("qps", "above", True, 0.0, None), "threshold must be a number, got True"),
        (("qps", "above", 1.0, -5.0, None), "for_seconds must be >= 0, got -5.0"),
        (("qps", "above", 1.0, 0.0, "ftp://host/x"), r"webhook must be an http\(s\) URL, got 'ftp"),
        (("qps", "above", 1.0, 0.0, "127.0.0.1:9000"), r"http\(s\) URL, got '127.0.0.1:9000'"),
    ],
)
def test_check_rule_says_what_is_wrong(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        check_rule(*args)


def test_create_alert_refuses_bad_rules(deployment: str) -> None:
    with pytest.raises(InvalidParameterError, match="Give exactly one of above= or below="):
        create_alert(deployment, "p99_latency_ms", above=200, below=10)
    with pytest.raises(InvalidParameterError, match="Give exactly one of above= or below="):
        create_alert(deployment, "p99_latency_ms")
    with pytest.raises(InvalidParameterError, match="Unknown alert metric 'p99'"):
        create_alert(deployment, "p99", above=200)
    with pytest.raises(InvalidParameterError, match="webhook must be an http"):
        create_alert(deployment, "qps", below=1, webhook="hooks.example.com")
    with pytest.raises(InvalidParameterError, match="Invalid duration 'soon'"):
        create_alert(deployment, "qps", below=1, for_="soon")
    with pytest.raises(DeploymentNotFoundError, match="nope"):
        create_alert("nope", "qps", below=1)
    assert list_alerts(deployment) == []


def test_create_list_and_delete(deployment: str, workspace: Any) -> None:
    rule = create_alert(deployment, "p99_latency_ms", above=200, for_="1m", webhook=None)
    assert (rule.deployment, rule.metric, rule.op, rule.threshold) == (
        deployment,
        "p99_latency_ms",
        "above",
        200.0,
    )
    assert rule.for_seconds == 60.0 and rule.state == "ok"
    assert rule.describe() == "p99_latency_ms above 200 for 60s"
    low = create_alert(deployment, "qps", below=0.5, for_=30)
    assert [r.id for r in list_alerts(deployment)] == [rule.id, low.id]
    assert [r.id for r in list_alerts()] == [rule.id, low.id]

    delete_alert(rule.id[:8])  # the first characters of the id are enough
    assert [r.id for r in list_alerts(deployment)] == [low.id]
    with pytest.raises(NotFoundError, match="lepton alerts list"):
        delete_alert(rule.id)
    with pytest.raises(NotFoundError):
        delete_alert("ab")  # too short to name one rule


# the state machine ---------------------------------------------------------------------------------
def state_of(rule_id: str) -> str:
    return next(r.state for r in list_alerts() if r.id == rule_id)


def test_ok_pending_firing_resolved_with_webhooks(
    deployment: str, workspace: Any, receiver: Receiver
) -> None:
    rule = create_alert(deployment, "p99_latency_ms", above=200, for_="60s", webhook=receiver.url)

    assert evaluate(workspace, deployment, {"p99_latency_ms": 250.0}, T0) == []
    assert state_of(rule.id) == "pending"
    assert evaluate(workspace, deployment, {"p99_latency_ms": 300.0}, T0 + 30) == []
    assert state_of(rule.id) == "pending"  # not for 60 s yet
    fired = evaluate(workspace, deployment, {"p99_latency_ms": 280.0}, T0 + 60)
    assert [c["state"] for c in fired] == ["firing"] and state_of(rule.id) == "firing"
    assert evaluate(workspace, deployment, {"p99_latency_ms": 260.0}, T0 + 65) == []  # once
    resolved = evaluate(workspace, deployment, {"p99_latency_ms": 90.0}, T0 + 70)
    assert [c["state"] for c in resolved] == ["resolved"] and state_of(rule.id) == "ok"

    assert receiver.states == ["firing", "resolved"]
    first = receiver.received[0]
    assert first["path"] == "/hooks/alerts" and first["content_type"] == "application/json"
    body = first["body"]
    assert (body["rule"], body["deployment"], body["metric"], body["value"], body["threshold"]) == (
        rule.id,
        deployment,
        "p99_latency_ms",
        280.0,
        200.0,
    )
    assert (
        body["message"] == f"{deployment}: p99_latency_ms above 200 for 60s is firing (value 280)"
    )

    history = alert_history(rule.id)
    assert [e["state"] for e in history] == ["resolved", "firing"]  # newest first
    assert [e["value"] for e in history] == [90.0, 280.0]
    assert {e["webhook_status"] for e in history} == {"200"}


def test_pending_goes_back_to_ok_when_the_breach_ends_early(
    deployment: str, workspace: Any
) -> None:
    rule = create_alert(deployment, "error_rate", above=0.05, for_="2m")
    evaluate(workspace, deployment, {"error_rate": 0.2}, T0)
    assert state_of(rule.id) == "pending"
    evaluate(workspace, deployment, {"error_rate": 0.0}, T0 + 60)
    assert state_of(rule.id) == "ok"
    evaluate(workspace, deployment, {"error_rate": 0.2}, T0 + 100)  # a new breach starts over
    assert evaluate(workspace, deployment, {"error_rate": 0.2}, T0 + 200) == []
    assert [c["state"] for c in evaluate(workspace, deployment, {"error_rate": 0.3}, T0 + 220)] == [
        "firing"
    ]
    assert alert_history(rule.id)[0]["webhook_status"] is None  # no webhook: nothing posted


def test_below_rules_zero_for_and_missing_metrics(deployment: str, workspace: Any) -> None:
    low = create_alert(deployment, "qps", below=1.0)
    restarts = create_alert(deployment, "replica_restarts", above=0)
    changes = evaluate(workspace, deployment, {"qps": 0.2}, T0)  # no replica_restarts value
    assert [(c["rule"], c["state"]) for c in changes] == [(low.id, "firing")]
    assert state_of(restarts.id) == "ok"
    changes = evaluate(workspace, deployment, {"qps": 5.0, "replica_restarts": 1.0}, T0 + 5)
    assert [(c["rule"], c["state"]) for c in changes] == [
        (low.id, "resolved"),
        (restarts.id, "firing"),
    ]
    assert set(METRICS) >= {"qps", "error_rate", "p99_latency_ms", "drift_psi", "replica_restarts"}


def test_a_failing_webhook_is_recorded_and_the_alert_still_fires(
    deployment: str, workspace: Any
) -> None:
    refused = create_alert(
        deployment, "qps", above=1, webhook=f"http://127.0.0.1:{closed_port()}/x"
    )
    failing_server = Receiver(status=500)
    try:
        failing = create_alert(deployment, "qps", above=1, webhook=failing_server.url)
        evaluate(workspace, deployment, {"qps": 3.0}, T0)
    finally:
        failing_server.close()
    assert state_of(refused.id) == state_of(failing.id) == "firing"
    refused_status = alert_history(refused.id)[0]["webhook_status"]
    assert refused_status.startswith("error: ") and "refused" in refused_status.lower()
    assert alert_history(failing.id)[0]["webhook_status"] == "500"
    assert failing_server.states == ["firing"]


def test_post_webhook_times_out_instead_of_hanging() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        status = post_webhook(url, {"state": "firing"}, timeout=0.3)
    assert status.startswith("error: ") and "timed out" in status
