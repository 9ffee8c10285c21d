"""Deployments end to end: a real control plane, real replica processes, real load.

One deployment ("credit", two replicas at first) is shared by the tests of this module, which
run in file order and build on each other: kill a replica under load, roll to v2 under load,
scale, read logs, metrics, samples and drift, fire and resolve an alert, refuse a model by
policy, restart the control plane, stop. Replicas take 10-20 s to load on 2 busy cores, so
starting one deployment per test would take many minutes.

Every process started here (the control plane and, through it, the replicas) is stopped by
pid in the module fixture's teardown, whatever happened; every load loop is bounded in
requests and time; everything listens on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.slow

LEPTON = shutil.which("lepton", path=str(Path(sys.executable).parent)) or "lepton"
NAME = "credit"
CONFIG = {"sample_rate": 1.0}  # keep every request: drift and masking need known samples
QUIET = 15.0  # seconds without requests before the shifted batch of the drift test


@dataclass
class Env:
    home: Path
    work: Path
    dep: Any  # lepton.deployments.Deployment
    key: str
    records: list[dict[str, Any]]  # real applications (the validation split), JSON-ready
    models: dict[int, Any]  # version -> the trained model, to compare predictions with
    pids: set[int] = field(default_factory=set)  # every replica pid seen, for the teardown

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.dep.status()
        self.pids.update(r["pid"] for r in status["replica_details"])
        return status


# helpers ------------------------------------------------------------------------------------------
def wait_until(
    condition: Callable[[], Any], timeout: float, what: str, env: Env | None = None
) -> Any:
    """Poll ``condition`` every 0.2 s until it is truthy; fail with ``what`` after ``timeout``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.{diagnostics(env)}")


def diagnostics(env: Env | None) -> str:
    """The end of the control plane's log and of each replica's log, for a failure message."""
    if env is None:
        return ""
    parts = []
    for log in [
        env.home / "controlplane.log",
        *sorted((env.home / "deployments").glob("*/replica-*.log")),
    ]:
        if log.exists():
            tail = log.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"\n--- {log.name}\n" + "\n".join(tail))
    try:
        parts.append(f"\n--- status\n{env.dep.status()}")
    except Exception as exc:  # the diagnostics must not hide the failure itself
        parts.append(f"\n--- status unavailable: {exc}")
    return "".join(parts)


def cli(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The ``lepton`` console script in a subprocess, with this module's LEPTON_HOME."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run([LEPTON, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def refuses(url: str) -> bool:
    """True when nothing listens at ``url``'s port any more."""
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as sock:
        sock.settimeout(2)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            return True
    return False


def alive(pid: int) -> bool:
    """The process runs (a zombie, exited but not yet reaped by its parent, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def is_lepton_process(pid: int, module: str) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return module.encode() in command


class Load:
    """``threads`` clients sending one- or two-row predictions through the deployment's address
    until stopped, for at most ``seconds`` and ``max_requests`` in all. No client retries:
    every error a client sees is counted as a failed request."""

    def __init__(
        self,
        url: str,
        key: str,
        records: list[dict[str, Any]],
        threads: int = 4,
        seconds: float = 240.0,
        max_requests: int = 60_000,
        pause: float = 0.01,
    ) -> None:
        self.url, self.key, self.records = url, key, records
        self.seconds, self.max_requests, self.pause = seconds, max_requests, pause
        self.ok = 0
        self.failures: list[str] = []
        self.versions: Counter[Any] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def sent(self) -> int:
        return self.ok + len(self.failures)

    def _run(self, index: int) -> None:
        from lepton.deployments import Client, ServingError

        deadline = time.time() + self.seconds
        with Client(self.url, self.key, retries=0, timeout=20) as client:
            i = index
            while not self._stop.is_set() and time.time() < deadline:
                with self._lock:
                    if self.sent >= self.max_requests:
                        return
                rows = self.records[i % len(self.records) : i % len(self.records) + 1 + i % 2]
                i += 7
                try:
                    version = client.predict_full(rows)["version"]
                except ServingError as exc:
                    with self._lock:
                        self.failures.append(f"{type(exc).__name__}: {exc}")
                else:
                    with self._lock:
                        self.ok += 1
                        self.versions[version] += 1
                time.sleep(self.pause)

    def wait_for(self, more: int, env: Env, timeout: float = 60.0) -> None:
        """Block until ``more`` requests beyond those sent so far have succeeded."""
        target = self.ok + more
        wait_until(lambda: self.ok >= target, timeout, f"{more} more requests under load", env)


class Receiver:
    """A webhook receiver: an HTTP server on 127.0.0.1 keeping every JSON body POSTed to it."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                received.append(
                    {"content_type": self.headers.get("content-type"), **json.loads(body)}
                )
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def states(self) -> list[str]:
        return [event["state"] for event in self.received]


def _shutdown(home: Path, seen: set[int]) -> None:
    """Stop the control plane (which stops its replicas); then kill by pid whatever is left."""
    from lepton.deployments import _daemon
    from lepton.workspace import get_workspace

    with contextlib.suppress(Exception):
        for info in get_workspace().list_deployments():
            seen.update(r["pid"] for r in info.state.get("replicas", []))
    plane = _daemon.running_pid(home)
    try:
        _daemon.stop(timeout=60)
    finally:
        if plane and plane > 0 and alive(plane) and is_lepton_process(plane, "lepton.server"):
            os.kill(plane, signal.SIGKILL)
        for pid in seen:
            if alive(pid) and is_lepton_process(pid, "lepton.serving"):
                os.kill(pid, signal.SIGKILL)


# the shared deployment ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """Two registered versions of "credit" (v1 logistic regression, v2 LightGBM) and a
    deployment of v1 with two replicas, in a LEPTON_HOME of this module."""
    import lepton
    from lepton.demo._credit import credit_table
    from lepton.workspace import reset

    root = tmp_path_factory.mktemp("deployments")
    home, work = root / "home", root / "work"
    work.mkdir()
    seen: set[int] = set()
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("LEPTON_"):
                patch.delenv(name)
        patch.setenv("LEPTON_HOME", str(home))
        patch.chdir(work)
        reset()
        try:
            data = lepton.Dataset.from_pandas(
                credit_table(rows=1200), target="default", name="credit"
            ).exclude_features("sex", "age_group")
            train, valid = data.split(test_size=0.25, seed=0)
            models = {}
            for version, kind in ((1, "logistic_regression"), (2, "lightgbm")):
                result = lepton.train(lepton.create_model(kind), train, valid, verbose=0)
                assert lepton.register(result.model, NAME).version == version
                models[version] = result.model
            records = valid.X().replace({float("nan"): None}).to_dict(orient="records")
            dep = lepton.deploy(f"{NAME}:1", name=NAME, replicas=2, config=CONFIG)
            assert dep.api_key
            state = Env(home, work, dep, dep.api_key, records, models, seen)
            state.status()
            yield state
        finally:
            _shutdown(home, seen)
            reset()


@pytest.fixture
def lepton_home(env: Env) -> Path:
    """Overrides the per-test LEPTON_HOME of tests/conftest.py: these tests share the module's."""
    return env.home


def samples_since(since: float) -> list[dict[str, Any]]:
    from lepton.workspace import get_workspace

    return list(get_workspace().request_samples(NAME, since=since))


# the tests, in order ---------------------------------------------------------------------------------
def test_deploy_starts_replicas_behind_one_address(env: Env) -> None:
    status = env.status()
    assert status["status"] == "running" and status["model"] == f"{NAME}:1"
    assert (status["replicas"], status["ready"], status["restarts"]) == (2, 2, 0)
    assert status["served_versions"] == [1]
    assert status["url"] == env.dep.url and status["url"].startswith("http://127.0.0.1:")
    ports = {r["port"] for r in status["replica_details"]}
    assert len(ports) == 2 and env.dep.info.port not in ports  # one address in front of both

    shown = json.loads(cli("deployments", "status", NAME, "--json").stdout)
    assert (shown["url"], shown["ready"], shown["model"]) == (env.dep.url, 2, f"{NAME}:1")
    listed = json.loads(cli("deployments", "list", "--json").stdout)
    assert [d["name"] for d in listed] == [NAME]


def test_the_address_needs_the_api_key(env: Env) -> None:
    import lepton
    from lepton.deployments import UnauthorizedError

    row = env.records[:1]
    with pytest.raises(UnauthorizedError, match="401: Missing or wrong API key") as info:
        lepton.Client(env.dep.url, retries=0).predict(row)
    assert info.value.status == 401
    with pytest.raises(UnauthorizedError, match="401"):
        lepton.Client(env.dep.url, "lp_wrong", retries=0).predict(row)

    client = env.dep.client()
    result = client.predict_full(env.records[:20])
    assert (result["model"], result["version"]) == (NAME, 1)
    expected = env.models[1].predict_proba(valid_frame(env, 20))
    np.testing.assert_allclose(result["probabilities"], expected, atol=1e-4)
    assert env.key not in repr(client)


def valid_frame(env: Env, rows: int) -> Any:
    import pandas as pd

    return pd.DataFrame(env.records[:rows]).fillna(np.nan)


def test_a_killed_replica_is_restarted_and_no_request_fails(env: Env) -> None:
    victim = env.status()["replica_details"][0]
    with Load(env.dep.url, env.key, env.records) as load:
        load.wait_for(40, env)
        os.kill(victim["pid"], signal.SIGKILL)

        def recovered() -> bool:
            status = env.status()
            pids = {r["pid"] for r in status["replica_details"]}
            return status["ready"] == 2 and victim["pid"] not in pids

        wait_until(recovered, 120, "the killed replica to be replaced", env)
        load.wait_for(40, env)  # and traffic keeps flowing through both
    assert load.failures == [], load.failures[:5]
    assert load.ok >= 80
    status = env.status()
    assert status["restarts"] == 1 and status["status"] == "running"
    log = env.home / "deployments" / NAME / f"replica-{victim['slot']}.log"
    assert "exited with code -9; restarting" in log.read_text()


def test_update_rolls_replicas_without_failed_requests(env: Env) -> None:
    before = {r["pid"] for r in env.status()["replica_details"]}
    with Load(env.dep.url, env.key, env.records) as load:
        load.wait_for(40, env)
        env.dep.update(f"{NAME}:2")
        load.wait_for(40, env)
    assert load.failures == [], load.failures[:5]
    assert load.versions[1] > 0 and load.versions[2] > 0  # served by both during the roll

    status = env.status()
    assert status["model"] == f"{NAME}:2" and status["served_versions"] == [2]
    assert {r["version"] for r in status["replica_details"]} == {2}
    assert not before & {r["pid"] for r in status["replica_details"]}  # every replica replaced
    assert status["restarts"] == 1  # a rolled replica is retired, not counted as a crash
    result = env.dep.client().predict_full(env.records[:20])
    assert result["version"] == 2
    expected = env.models[2].predict_proba(valid_frame(env, 20))
    np.testing.assert_allclose(result["probabilities"], expected, atol=1e-4)
    assert not np.allclose(expected, env.models[1].predict_proba(valid_frame(env, 20)), atol=1e-3)


def test_scale_up_and_down(env: Env) -> None:
    env.dep.scale(3)
    status = env.status()
    assert (status["replicas"], status["ready"], len(status["replica_details"])) == (3, 3, 3)
    assert {r["version"] for r in status["replica_details"]} == {2}

    env.dep.scale(1)
    status = env.status()
    assert (status["replicas"], status["ready"], len(status["replica_details"])) == (1, 1, 1)
    assert env.dep.client().predict(env.records[:2])


def test_logs_are_kept_per_replica(env: Env) -> None:
    from lepton.errors import InvalidParameterError

    text = env.dep.logs()
    slots = {r["slot"] for r in env.status()["replica_details"]}
    assert "[replica-0] --- replica 0 starting, model version 1" in text
    for slot in slots:
        assert f"[replica-{slot}] --- replica {slot} starting, model version 2" in text
    only = cli("deployments", "logs", NAME, "--replica", "0").stdout
    assert "replica 0 starting" in only and "[replica-1]" not in only
    with pytest.raises(InvalidParameterError, match="No logs for replica 99"):
        env.dep.logs(replica=99)


def test_metrics_series_after_traffic(env: Env) -> None:
    points = json.loads(cli("deployments", "metrics", NAME, "--since", "15m", "--json").stdout)
    busy = [p for p in points if p["qps"] > 0]
    assert busy, points[-3:]
    for point in busy:
        assert point["p99_latency_ms"] > 0 and point["p50_latency_ms"] <= point["p99_latency_ms"]
        assert point["error_rate"] == 0.0
        assert point["batch_size"] >= 1
    assert max(p["replica_restarts"] for p in points) == 1
    assert all(points[i]["ts"] < points[i + 1]["ts"] for i in range(len(points) - 1))
    table = cli("deployments", "metrics", NAME).stdout
    assert "p99 ms" in table


def test_request_samples_mask_pii(env: Env) -> None:
    started = time.time()
    record = {**env.records[0], "purpose": "alice.smith@example.com"}
    assert env.dep.client().predict([record])  # an unseen category is still scored

    def stored() -> list[dict[str, Any]]:
        return [s for s in samples_since(started - 1) if "@" in json.dumps(s["inputs"])]

    found = wait_until(stored, 30, "the sampled request to be stored", env)
    text = json.dumps(found[0]["inputs"])
    assert "alice.smith@example.com" not in text and "a**********@*******.com" in text
    assert found[0]["model_version"] == 2 and found[0]["prediction"] in ("yes", "no")


def test_drift_flags_shifted_incomes(env: Env) -> None:
    from lepton.monitoring._series import RAW
    from lepton.workspace import get_workspace

    def income(report: dict[str, Any]) -> dict[str, Any]:
        return next(f for f in report["features"] if f["feature"] == "income")

    # once a scrape has run after now, every request sent so far is among the samples
    checked = time.time()
    wait_until(lambda: get_workspace().deployment_series(NAME, RAW, checked), 30, "a scrape", env)
    # the traffic so far: real applications (the load of the tests above)
    calm = env.dep.drift().to_dict()
    assert calm["samples"] >= 500 and income(calm)["psi"] < 0.2, income(calm)

    # then, after a quiet spell, a batch of applications whose incomes are five times larger
    newest = max(s["ts"] for s in samples_since(0.0))
    time.sleep(max(0.0, newest + QUIET - time.time()))
    started = time.time()
    shifted_rows = [{**r, "income": r["income"] * 5} for r in env.records if r["income"]]
    client = env.dep.client()
    for start in range(0, len(shifted_rows), 25):
        client.predict(shifted_rows[start : start + 25])
    wait_until(
        lambda: len(samples_since(started)) >= len(shifted_rows),
        30,
        "the shifted requests to be sampled",
        env,
    )

    def since() -> str:
        # `--since` counts back from when the command runs, seconds after this; reaching back
        # into the quiet spell takes in all the batch, though a CLI that needs up to
        # QUIET - 1 s to start, and no request before it
        return f"{time.time() - started + (started - newest - 1):.1f}s"

    shifted = json.loads(cli("deployments", "drift", NAME, "--since", since(), "--json").stdout)
    assert shifted["samples"] == len(shifted_rows)
    assert income(shifted)["psi"] > 0.2 and income(shifted)["drifted"], income(shifted)
    assert income(shifted)["ks_pvalue"] < 0.01
    assert "income" in shifted["drifted"] and shifted["features"][0]["feature"] == "income"
    assert income(calm)["psi"] < income(shifted)["psi"] / 5
    assert shifted["prediction"] is not None and shifted["prediction"]["psi"] >= 0

    # the table for people, in this process (the model is loaded already: no 10 s start)
    from typer.testing import CliRunner

    from lepton.cli._app import app

    table = CliRunner().invoke(app, ["deployments", "drift", NAME, "--since", since()])
    assert table.exit_code == 0, table.output
    assert f"({len(shifted_rows)} sampled requests)" in table.output, table.output
    line = next(row for row in table.output.splitlines() if " income " in row)
    assert "DRIFT" in line, table.output


def test_alert_fires_and_resolves_with_webhooks(env: Env) -> None:
    with Receiver() as receiver:
        rule = json.loads(
            cli(
                "alerts", "create", "--deployment", NAME, "--metric", "qps", "--above", "0.1",
                "--for", "0s", "--webhook", receiver.url, "--json",
            ).stdout
        )  # fmt: skip
        try:
            assert (rule["metric"], rule["op"], rule["threshold"]) == ("qps", "above", 0.1)
            with Load(env.dep.url, env.key, env.records, threads=2, seconds=40) as load:
                wait_until(lambda: "firing" in receiver.states(), 40, "the alert to fire", env)
            assert load.failures == []
            wait_until(lambda: "resolved" in receiver.states(), 40, "the alert to resolve", env)
            firing = receiver.received[receiver.states().index("firing")]
            assert firing["content_type"] == "application/json"
            assert (firing["deployment"], firing["metric"], firing["value"] > 0.1) == (
                NAME,
                "qps",
                True,
            )
            events = json.loads(cli("alerts", "history", rule["id"][:8], "--json").stdout)
            states = [e["state"] for e in reversed(events)]  # oldest first
            assert states[:2] == ["firing", "resolved"], events
            assert {e["webhook_status"] for e in events} == {"200"}
            rules = json.loads(cli("alerts", "list", "--deployment", NAME, "--json").stdout)
            assert [(r["id"], r["state"]) for r in rules] == [(rule["id"], "ok")]
        finally:
            cli("alerts", "delete", rule["id"][:8])


def test_request_samples_are_bounded(env: Env) -> None:
    from lepton.workspace import get_workspace

    workspace = get_workspace()
    now = time.time()
    rows = [
        {"ts": now, "model_version": 99, "inputs": list(record.values()), "prediction": str(i)}
        for i, record in enumerate(env.records[:150])
    ]
    workspace.add_request_samples(NAME, rows, keep=100)
    kept = workspace.request_samples(NAME)
    assert len(kept) == 100
    assert sorted(int(s["prediction"]) for s in kept) == list(range(50, 150))  # the newest stay


def test_policies_refuse_a_failing_model_unless_overridden(env: Env) -> None:
    import lepton
    from lepton.errors import DeploymentNotFoundError, PolicyViolationError
    from lepton.governance import Policy, use_policies
    from lepton.workspace import get_workspace

    strict = [Policy("min_metric", metric="roc_auc", value=0.99)]
    pids = {r["pid"] for r in env.status()["replica_details"]}
    with use_policies(strict), pytest.raises(PolicyViolationError, match="cannot deploy"):
        lepton.deploy(f"{NAME}:2", name="credit-strict")
    with pytest.raises(DeploymentNotFoundError):
        get_workspace().get_deployment("credit-strict")

    with use_policies(strict):
        again = lepton.deploy(
            f"{NAME}:2", name=NAME, config=CONFIG, override_reason="Approved by risk, ticket 42."
        )
    assert again.api_key is None  # the key given out at creation stays the one
    status = env.status()
    assert status["status"] == "running" and status["model"] == f"{NAME}:2"
    assert {r["pid"] for r in status["replica_details"]} == pids  # nothing was restarted
    assert env.dep.client().predict(env.records[:1])


def test_a_restarted_control_plane_brings_the_deployment_back(env: Env) -> None:
    from lepton.deployments import _daemon

    url = env.dep.url
    old = _daemon.running_pid(env.home)
    assert old and _daemon.stop()
    assert _daemon.running_pid(env.home) is None
    assert env.status()["status"] == "pending"  # desired "running" stays in the store
    assert refuses(url)

    new = _daemon.ensure_running()
    assert new != old
    env.dep.wait(timeout=180)
    status = env.status()
    assert (status["url"], status["ready"], status["served_versions"]) == (url, 1, [2])
    assert status["restarts"] == 1  # counted across control planes
    assert env.dep.client().predict(env.records[:2])


def test_stop_then_dev_stop(env: Env) -> None:
    from lepton.deployments import UnavailableError, _daemon

    url = env.dep.url
    env.dep.stop()
    status = env.status()
    assert status["status"] == "stopped" and status["replica_details"] == []
    assert refuses(url)
    with pytest.raises(UnavailableError, match="Cannot reach"):
        env.dep.client(retries=0).predict(env.records[:1])

    assert "Stopped the local server." in cli("dev", "--stop").stdout
    assert _daemon.running_pid(env.home) is None
    assert "No local server was running." in cli("dev", "--stop").stdout
    assert not [pid for pid in env.pids if alive(pid)]
