"""Deployments, their monitoring and alerts over a real team server.

One real deployment (replicas take 10-20 s to load on 2 busy cores): ``lepton.deploy`` through
the SDK pointed at the server starts no local control plane; the server's control plane starts
the replica, which answers predictions; it scales to 2; logs, metrics, samples and drift are read
over the API; alerts are created, listed and deleted; it stops. The other tests need no replica.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import lepton
from lepton import monitoring, registry
from lepton.deployments import get_deployment
from lepton.errors import (
    DeploymentNotFoundError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    PolicyViolationError,
)
from lepton.workspace import get_workspace, reset

API = "/api/v1"
LEPTON = shutil.which("lepton", path=str(Path(sys.executable).parent)) or "lepton"


def records() -> list[dict[str, Any]]:
    return [
        {"x1": 1.5, "x2": -0.3, "color": "red"},
        {"x1": -2.0, "x2": 1.0, "color": "blue"},
        {"x1": 0.2, "x2": None, "color": "green"},
    ]


def headers(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.")


def registered(bundle: Path) -> Any:
    version = lepton.register(bundle, "credit-risk")
    registry.set_alias("credit-risk", "production", version.version)
    return version


@pytest.mark.slow
def test_deploy_predict_scale_logs_monitor_and_stop_through_the_server(
    bundle: Path, remote: Any, lepton_home: Path
) -> None:
    from lepton.deployments._daemon import running_pid

    version = registered(bundle)
    dep = lepton.deploy(
        "credit-risk@production", name="credit", replicas=1, config={"sample_rate": 1.0}
    )
    try:
        # the server's control plane runs it: none was started on this side
        assert running_pid(lepton_home) is None
        assert running_pid(remote.home) is not None
        assert dep.api_key is not None and dep.url.startswith("http://127.0.0.1:")
        expected = list(lepton.load_model("credit-risk:1").predict(_frame(records())))
        with dep.client() as client:
            assert client.predict(records()) == expected
        with httpx.Client() as anonymous:  # the key is needed
            assert (
                anonymous.post(f"{dep.url}/v1/predict", json={"inputs": records()}).status_code
                == 401
            )

        _predict_through_the_server(remote, expected)

        dep.scale(2)
        status = dep.status()
        assert (status["ready"], status["replicas"], status["model"]) == (2, 2, version.ref)
        with dep.client() as client:
            for _ in range(10):
                assert client.predict(records()) == expected

        logs = dep.logs()
        assert "[replica-0]" in logs and "[replica-1]" in logs
        assert "[replica-1]" not in dep.logs(replica=0)
        with pytest.raises(InvalidParameterError, match="No logs for replica 7"):
            dep.logs(replica=7)
        cli = subprocess.run(
            [LEPTON, "deployments", "logs", "credit", "--replica", "1", "--tail", "5"],
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 0 and "[replica-1]" in cli.stdout, cli.stdout + cli.stderr

        # the control plane scrapes every few seconds: metric points and sampled requests follow
        points = wait_until(dep.metrics, 60, "a metric point of the deployment")
        assert {"qps", "error_rate", "p99_latency_ms"} <= set(points[-1])
        samples = wait_until(
            lambda: get_workspace().request_samples("credit"), 60, "sampled requests"
        )
        assert samples[0]["inputs"] and samples[0]["model_version"] == version.version
        report = dep.drift()
        assert report.samples >= 3
        viewer = headers(remote.make_token("viewer", "default"))
        served = httpx.get(f"{remote.url}{API}/deployments/credit/drift", headers=viewer).json()
        assert served["samples"] >= report.samples  # the same samples, or newer ones too
        assert {f["feature"] for f in served["features"]} == {f.feature for f in report.features}
        assert set(served) == {*report.to_dict()}

        rule = monitoring.create_alert("credit", "error_rate", above=0.5, for_="1m")
        assert [r.id for r in monitoring.list_alerts("credit")] == [rule.id]
        assert [r.describe() for r in monitoring.list_alerts()] == ["error_rate above 0.5 for 60s"]
        assert monitoring.alert_history(rule.id) == []
        monitoring.delete_alert(rule.id[:8])
        assert monitoring.list_alerts() == []
    finally:
        dep.stop()
    info = dep.info
    assert (info.status, info.state.get("replicas")) == ("stopped", [])
    stopped = httpx.post(
        f"{remote.url}{API}/deployments/credit/predict",
        json={"inputs": records()},
        headers=headers(remote.admin_token),
    )
    assert stopped.status_code == 503, stopped.text
    assert "is stopped" in stopped.json()["error"]["message"]
    assert "lepton deployments status credit" in stopped.json()["error"]["message"]


def _predict_through_the_server(remote: Any, expected: list[Any]) -> None:
    """POST /deployments/NAME/predict: the server forwards with the control plane's token (it
    has only the key's hash); the deployment's answer and status come back as they are."""
    url = f"{remote.url}{API}/deployments/credit/predict"
    developer = headers(remote.make_token("developer", "default"))
    answer = httpx.post(url, json={"inputs": records()}, headers=developer)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == expected and answer.json()["model"] == "credit"

    viewer = headers(remote.make_token("viewer", "default"))
    assert httpx.post(url, json={"inputs": records()}, headers=viewer).status_code == 403
    bad = httpx.post(url, json={"inputs": [{**records()[0], "x1": "high"}]}, headers=developer)
    assert bad.status_code == 422
    assert bad.json()["error"]["message"] == "inputs[0].x1: expected a number, got str 'high'."
    assert bad.json()["error"]["details"] == {"field": "inputs[0].x1"}
    # valid rows, but a body over the replica's own limit (1 MiB): its refusal comes through
    big = [{**records()[0], "color": "x" * 2000}] * 600
    refused = httpx.post(url, json={"inputs": big}, headers=developer)
    assert refused.status_code == 413 and "larger than 1048576 bytes" in refused.text
    missing = httpx.post(url.replace("credit", "nope"), json={"inputs": []}, headers=developer)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
    # the audit trail records the call, not the inputs (they may hold personal data)
    trail = [e for e in remote.state.audit.list(limit=20) if e.target.endswith("credit/predict")]
    assert [(e.status_code, e.details) for e in trail] == [  # newest first
        (413, {"deployment": "credit", "rows": 600}),
        (422, {"deployment": "credit", "rows": 1}),
        (403, {}),
        (200, {"deployment": "credit", "rows": 3}),
    ]


def _frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows)


def test_deployment_requests_are_checked_on_the_server(bundle: Path, remote: Any) -> None:
    registered(bundle)
    with pytest.raises(InvalidParameterError, match="no secret.*DB_PASSWORD"):
        lepton.deploy("credit-risk@production", name="credit", secrets=["DB_PASSWORD"])
    with pytest.raises(InvalidParameterError, match="list of secret names"):
        lepton.deploy("credit-risk@production", name="credit", secrets="DB_PASSWORD")  # type: ignore[arg-type]
    with pytest.raises(DeploymentNotFoundError, match="nope"):
        get_deployment("nope")
    assert get_workspace().list_deployments() == []  # nothing was saved by the refusals

    base = f"{remote.url}{API}/deployments/credit"
    admin = headers(remote.admin_token)
    body = {"project": "default", "model_name": "credit-risk", "model_version": 1}
    for change, message in [
        ({"host": "0.0.0.0"}, "host"),
        ({"options": {"max_batch": 4}}, "Unknown serving option"),
        ({"options": {"max_batch_size": "big"}}, "must be numbers"),
        ({"model_version": 9}, "credit-risk:9"),
        ({"status": "running"}, "status"),
        ({"replicas": 0}, "replicas"),
    ]:
        reply = httpx.put(base, json={**body, **change}, headers=admin)
        assert reply.status_code in (404, 422), (change, reply.text)
        assert message in reply.json()["error"]["message"], (change, reply.text)
    assert get_workspace().list_deployments() == []


CARD_POLICY = [{"rule": "card_field", "field": "intended_use"}]


def failing_and_passing(bundle: Path) -> None:
    """credit-risk:1 fails the project's policy (its card has no intended use), :2 passes."""
    registered(bundle)
    registry.update_card(lepton.register(bundle, "credit-risk").ref, intended_use="Scoring loans")
    get_workspace().set_project_policies("default", CARD_POLICY)  # type: ignore[attr-defined]


def audited(server: Any, method: str, count: int) -> list[tuple[int, dict[str, Any]]]:
    """(status, details) of the ``count`` audit entries of ``method`` on /deployments/credit,
    oldest first (the server appends an entry just after its answer: wait for the last)."""

    def entries() -> list[tuple[int, dict[str, Any]]]:
        return [
            (e.status_code, e.details)
            for e in reversed(server.state.audit.list(limit=100))
            if e.action == f"{method} /deployments/{{name}}" and e.target.endswith("/credit")
        ]

    return list(wait_until(lambda: len(entries()) >= count and entries(), 10, "audit entries"))


def test_raw_put_and_patch_run_the_projects_policies(bundle: Path, remote: Any) -> None:
    """The API gates what is deployed, as lepton.deploy does: a raw call (the dashboard's
    Update button, a script) cannot skip the policies; an override reason is recorded."""
    failing_and_passing(bundle)
    base = f"{remote.url}{API}/deployments/credit"
    developer = headers(remote.make_token("developer", "default"))
    body = {"project": "default", "model_name": "credit-risk", "model_version": 1}
    stopped = {**body, "desired": "stopped"}  # the control plane starts nothing for it

    refused = httpx.put(base, json=stopped, headers=developer)
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "policy_violation"
    assert error["message"].startswith(
        "credit-risk:1 cannot be deployed as 'credit': 1 of the policies of project 'default' "
        "failed: card field intended_use (Card field 'intended_use' is empty"
    )
    assert "or give an override reason" in error["message"]
    assert get_workspace().list_deployments() == []

    passing = httpx.put(base, json={**stopped, "model_version": 2}, headers=developer)
    assert passing.status_code == 200, passing.text
    assert passing.json()["model_version"] == 2

    rollback = httpx.patch(base, json={"model_version": 1}, headers=developer)
    assert rollback.status_code == 403, rollback.text
    assert "card field intended_use" in rollback.json()["error"]["message"]
    assert get_workspace().get_deployment("credit").model_version == 2
    for change, message in [
        ({"model_version": 1, "override_reason": "  "}, "cannot be empty"),
        ({"replicas": 2, "override_reason": "why not"}, "goes with a new model_version"),
    ]:
        reply = httpx.patch(base, json=change, headers=developer)
        assert reply.status_code == 422 and message in reply.text, (change, reply.text)
    assert get_workspace().get_deployment("credit").model_version == 2

    reason = "Rollback after an incident, approved by risk (ticket 42)."
    overridden = httpx.patch(
        base, json={"model_version": 1, "override_reason": reason}, headers=developer
    )
    assert overridden.status_code == 204, overridden.text
    assert get_workspace().get_deployment("credit").model_version == 1
    replaced = httpx.put(base, json={**stopped, "override_reason": reason}, headers=developer)
    assert replaced.status_code == 200, replaced.text
    assert "override_reason" not in replaced.json()  # a request field, not desired state

    failed = [{"policy": "card field intended_use", "rule": "card_field", "passed": False}]
    passed = [{**failed[0], "passed": True}]

    def results(details: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: r[k] for k in ("policy", "rule", "passed")} for r in details["policy_results"]]

    puts = audited(remote, "PUT", 3)
    assert [(status, results(d), d.get("override_reason")) for status, d in puts] == [
        (403, failed, None),
        (200, passed, None),
        (200, failed, reason),
    ]
    patches = [(s, d) for s, d in audited(remote, "PATCH", 4) if "policy_results" in d]
    assert [(status, results(d), d.get("override_reason")) for status, d in patches] == [
        (403, failed, None),
        (204, failed, reason),
    ]


def test_the_sdk_and_the_server_agree_on_the_policies(
    bundle: Path, start_server: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """lepton.deploy and Deployment.update check the policies first and send their override
    reason along, so the server's own check neither refuses what they let through nor lets
    through what they refuse. (No control plane: the deployment stays a record.)"""
    live = start_server(control_plane=False)
    monkeypatch.setenv("LEPTON_URL", live.url)
    monkeypatch.setenv("LEPTON_TOKEN", live.admin_token)
    reset()
    failing_and_passing(bundle)

    with pytest.raises(PolicyViolationError, match="card field intended_use"):
        lepton.deploy("credit-risk:1", name="credit", wait=False)
    assert get_workspace().list_deployments() == []
    reason = "Approved by risk, ticket 42."
    dep = lepton.deploy("credit-risk:1", name="credit", override_reason=reason, wait=False)
    assert dep.info.model_version == 1

    dep.update("credit-risk:2", wait=False)
    assert dep.info.model_version == 2
    with pytest.raises(PolicyViolationError, match="card field intended_use"):
        dep.update("credit-risk:1", wait=False)
    assert dep.info.model_version == 2
    dep.update("credit-risk:1", override_reason="Rollback, ticket 43.", wait=False)
    assert dep.info.model_version == 1

    recorded = [
        (status, d.get("version", d.get("model_version")), d.get("override_reason"))
        for method, count in (("PUT", 1), ("PATCH", 2))
        for status, d in audited(live, method, count)
    ]
    assert recorded == [
        (200, 1, reason),
        (204, 2, None),
        (204, 1, "Rollback, ticket 43."),
    ]


def test_control_plane_writes_stay_on_the_server(remote: Any) -> None:
    workspace = get_workspace()
    writes = [
        lambda: workspace.add_deployment_point("credit", 0, time.time(), {"qps": 1.0}),
        lambda: workspace.prune_deployment_series("credit", 0, time.time()),
        lambda: workspace.add_request_samples("credit", [{"ts": 0.0, "inputs": []}]),
        lambda: workspace.set_alert_state("abcd", "firing", time.time()),
        lambda: workspace.add_alert_event("abcd", "firing", 1.0, "high", None),
    ]
    for write in writes:
        with pytest.raises(InvalidParameterError, match="Only the server's control plane"):
            write()


def test_roles_on_deployments_and_alerts(bundle: Path, remote: Any) -> None:
    """A stopped deployment is enough: the control plane starts no replica for it."""
    registered(bundle)
    admin = headers(remote.admin_token)
    saved = httpx.put(
        f"{remote.url}{API}/deployments/credit",
        json={
            "project": "default",
            "model_name": "credit-risk",
            "model_version": 1,
            "desired": "stopped",
        },
        headers=admin,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["host"] == "127.0.0.1" and saved.json()["port"] >= 1024
    rule = monitoring.create_alert("credit", "p99_latency_ms", above=200, for_="30s")

    viewer = headers(remote.make_token("viewer", "default"))
    outsider = headers(remote.make_token("developer", "other"))
    base = f"{remote.url}{API}"
    for path in [
        "/deployments/credit",
        "/deployments/credit/series",
        "/deployments/credit/samples",
        "/deployments/credit/drift",
    ]:
        assert httpx.get(base + path, headers=viewer).status_code == 200, path
        assert httpx.get(base + path, headers=outsider).status_code == 403, path
    assert [r["id"] for r in httpx.get(f"{base}/alerts", headers=viewer).json()] == [rule.id]
    assert httpx.get(f"{base}/alerts", headers=outsider).json() == []
    assert httpx.get(f"{base}/deployments", headers=outsider).json() == []
    assert httpx.get(f"{base}/alerts/events", headers=viewer).json() == []

    writes = [
        ("PATCH", "/deployments/credit", {"replicas": 2}),
        ("POST", "/deployments/credit/alerts", {"metric": "qps", "op": "above", "threshold": 1}),
        ("DELETE", f"/alerts/{rule.id}", None),
        ("GET", "/deployments/credit/logs", None),
        ("GET", "/deployments/credit/key-hash", None),
        ("POST", "/deployments/credit/predict", {"inputs": records()}),
    ]
    for method, path, payload in writes:
        reply = httpx.request(method, base + path, json=payload, headers=viewer)
        assert reply.status_code == 403, (method, path, reply.text)
    missing = httpx.get(f"{base}/deployments/nope", headers=outsider)
    assert missing.status_code == 404 and "credit" not in missing.json()["error"]["message"]

    bad = httpx.post(
        f"{base}/deployments/credit/alerts",
        json={"metric": "cpu", "op": "above", "threshold": 1},
        headers=admin,
    )
    assert bad.status_code == 422 and "Unknown alert metric" in bad.json()["error"]["message"]
    with pytest.raises(NotFoundError, match="zzzz"):
        monitoring.delete_alert("zzzz")
    developer_token = remote.make_token("developer", "default")
    reply = httpx.patch(
        f"{base}/deployments/credit", json={"replicas": 3}, headers=headers(developer_token)
    )
    assert reply.status_code == 204
    assert get_workspace().get_deployment("credit").replicas == 3
    nothing = httpx.patch(f"{base}/deployments/credit", json={}, headers=admin)
    assert nothing.status_code == 422 and "Nothing to change" in nothing.text

    drift = httpx.get(f"{base}/deployments/credit/drift", headers=viewer).json()
    assert (drift["samples"], drift["features"]) == (0, [])
    assert "Only 0 sampled requests" in drift["note"]
    stopped = httpx.post(
        f"{base}/deployments/credit/predict",
        json={"inputs": records()},
        headers=headers(developer_token),
    )
    assert stopped.status_code == 503 and "'credit' is stopped" in stopped.text


def test_a_server_without_control_plane_checks_inputs_then_answers_503(
    bundle: Path, start_server: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    live = start_server(control_plane=False)
    monkeypatch.setenv("LEPTON_URL", live.url)
    monkeypatch.setenv("LEPTON_TOKEN", live.admin_token)
    reset()
    registered(bundle)
    base = f"{live.url}{API}/deployments/credit"
    admin = headers(live.admin_token)
    body = {"project": "default", "model_name": "credit-risk", "model_version": 1}
    assert httpx.put(base, json=body, headers=admin).status_code == 200

    bad = httpx.post(f"{base}/predict", json={"inputs": [{"x1": 1.0}]}, headers=admin)
    assert bad.status_code == 422 and "missing field 'x2'" in bad.json()["error"]["message"]
    empty = httpx.post(f"{base}/predict", json={"inputs": []}, headers=admin)
    assert empty.status_code == 422 and "non-empty list" in empty.text
    answer = httpx.post(f"{base}/predict", json={"inputs": records()}, headers=admin)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert "runs no control plane" in answer.json()["error"]["message"]


def test_a_viewer_sdk_cannot_deploy(
    bundle: Path, remote: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered(bundle)
    monkeypatch.setenv("LEPTON_TOKEN", remote.make_token("viewer", "default"))
    reset()
    with pytest.raises(PermissionDeniedError, match="'developer' role"):
        lepton.deploy("credit-risk@production", name="credit", wait=False)
