"""Ray fixtures. Every test here is marked ``ray`` and runs in one process (scripts/ray-tests.sh,
inside a loopback-only network namespace): one Ray session for the whole test session, never
shared between pytest-xdist workers. Without Ray installed the tests skip with the install
command."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.live_server import free_port

_RAY_MISSING = 'Ray is not installed: pip install "lepton-ai-sdk[ray]" (make test installs it)'


@pytest.hookimpl(tryfirst=True)  # before -m "not ray" deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.ray)


#: the temp dirs of the Ray clusters of this session, whose logs a failed test prints
_CLUSTER_TEMPS: list[Path] = []
_LOG_SIGNS = ("error", "traceback", "timed out", "timeout", "failed", "killed")


_STARTED = pytest.StashKey[float]()  # when each test began: its logs are newer


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed Ray test shows the lines of the clusters' logs that look like trouble: Ray's
    own logs go away with the session's temp dirs, and CI only keeps what pytest printed."""
    report = yield
    started = item.stash.get(_STARTED, None)
    if report.failed and call.when == "call" and started is not None:
        tail = _log_trouble(started)
        if tail:
            report.sections.append(("Ray logs (lines that look like trouble)", tail))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_STARTED] = time.time()


def _log_trouble(since: float, per_file: int = 12, limit: int = 12_000) -> str:
    out: list[str] = []
    for temp in _CLUSTER_TEMPS:
        for log in sorted(temp.glob("**/session_latest/logs/**/*")):
            if not log.is_file() or log.stat().st_mtime < since:
                continue
            lines = log.read_text(errors="replace").splitlines()
            hits = [ln for ln in lines if any(s in ln.lower() for s in _LOG_SIGNS)]
            if hits:
                out.append(f"--- {log.relative_to(temp)}")
                out.extend(line[:400] for line in hits[-per_file:])
    return "\n".join(out)[-limit:]


def _ray() -> Any:
    return pytest.importorskip("ray", reason=_RAY_MISSING)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """The one local Ray cluster of the test session (2 CPUs, no dashboard); the ``ray`` module."""
    ray = _ray()
    os.environ["RAY_AUTH_MODE"] = "disabled"
    # a short temp dir: Ray's unix socket paths must stay under 108 characters
    temp = tempfile.mkdtemp(prefix="lr-", dir="/tmp")
    _CLUSTER_TEMPS.append(Path(temp))
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        _temp_dir=temp,
        _node_ip_address="127.0.0.1",  # as the two-node cluster: not what the hostname resolves to
    )
    yield ray
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def cluster_left_free() -> Iterator[None]:
    """After each module the session's cluster has all its CPUs free again. What a module left
    there (a Serve application, a placement group) is named in a warning and removed: left,
    it would starve the modules after it (a two-worker fit waits for its CPUs forever)."""
    yield
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ray.available_resources().get("CPU", 0) >= ray.cluster_resources().get("CPU", 0):
            return
        time.sleep(1)
    from ray._private import state

    actors = sorted(
        a["ActorClassName"] for a in state.actors().values() if a.get("State") == "ALIVE"
    )
    left = _remove_leftovers(ray)
    warnings.warn(
        f"the Ray session's cluster was left busy; removed: {left}; actors alive: {actors}",
        stacklevel=1,
    )


def _remove_leftovers(ray: Any) -> list[str]:
    from ray import serve
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup, remove_placement_group

    left: list[str] = []
    with contextlib.suppress(Exception):  # no Serve controller: no application
        for app in serve.status().applications:
            serve.delete(app, _blocking=True)
            left.append(f"Serve application {app}")
    for pg_id, info in ray.util.placement_group_table().items():
        if info["state"] != "REMOVED":
            remove_placement_group(PlacementGroup(PlacementGroupID(bytes.fromhex(pg_id))))
            left.append(f"placement group {pg_id} ({info['state']}, {info['bundles']})")
    return left


@pytest.fixture
def ray_backend(ray_session: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """``LEPTON_BACKEND=ray`` for one test, joined to the session's cluster."""
    monkeypatch.setenv("LEPTON_BACKEND", "ray")
    return "ray"


@dataclass
class RayNodes:
    """A two-node cluster started with the ``ray`` CLI, as a user would on two machines."""

    address: str  # the head's GCS address, host:port
    dashboard: str  # the head's dashboard URL (the Ray Jobs API)
    head: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes] | None
    temp: Path

    def stop_worker(self) -> None:
        """Stop the second node (SIGTERM by its pid: Ray drains it and exits)."""
        if self.worker is not None:
            _stop(self.worker)
            self.worker = None

    def driver_env(self, **extra: str) -> dict[str, str]:
        """The environment of a driver process that uses this cluster through Lepton."""
        return {
            **os.environ,
            "LEPTON_BACKEND": "ray",
            "LEPTON_RAY_ADDRESS": self.address,
            "RAY_AUTH_MODE": "disabled",
            **extra,
        }


def _ray_cli() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _start_node(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    # each node's dashboard agent on a port of its own: the default (52365) may already be
    # held by the agent of the session's cluster, and an agent without its HTTP port leaves
    # the Jobs API answering "No available agent" for good
    ports = [f"--dashboard-agent-listen-port={free_port()}"]
    with log.open("wb") as out:
        return subprocess.Popen(
            [_ray_cli(), "start", "--block", "--node-ip-address=127.0.0.1", *ports, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    """Until the head's GCS accepts connections (Ray would retry a closed port for minutes)."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ray start --head exited:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"the Ray head did not listen on {port}:\n{log.read_text()[-3000:]}")


def _wait_for_nodes(address: str, count: int, deadline: float) -> None:
    probe = (
        "import ray,sys; ray.init(address=sys.argv[1], log_to_driver=False); "
        "print(sum(1 for n in ray.nodes() if n['Alive']))"
    )
    while time.monotonic() < deadline:
        try:
            out = subprocess.run(
                [sys.executable, "-c", probe, address], capture_output=True, text=True, timeout=90
            )
        except subprocess.TimeoutExpired:
            continue
        if out.returncode == 0 and out.stdout.strip() == str(count):
            return
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster at {address} did not reach {count} nodes")


@pytest.fixture(scope="session")
def ray_nodes() -> Iterator[RayNodes]:
    """Head and worker node on 127.0.0.1 with separate temp dirs; each with 1 CPU."""
    _ray()
    temp = Path(tempfile.mkdtemp(prefix="lrn-", dir="/tmp"))
    _CLUSTER_TEMPS.append(temp)
    port, dashboard_port = free_port(), free_port()
    (temp / "head").mkdir()
    (temp / "worker").mkdir()
    head = _start_node(
        [
            "--head",
            f"--port={port}",
            "--num-cpus=1",
            f"--temp-dir={temp / 'head'}",
            # worker ports apart from the session cluster's (10002-19999) and the other node's:
            # two raylets on one host do not know each other's ports
            "--min-worker-port=20000",
            "--max-worker-port=22999",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard_port}",
        ],
        temp / "head.log",
    )
    address = f"127.0.0.1:{port}"
    nodes = RayNodes(address, f"http://127.0.0.1:{dashboard_port}", head, None, temp)
    try:
        _wait_for_port(port, head, temp / "head.log", time.monotonic() + 120)
        nodes.worker = _start_node(
            [
                f"--address={address}",
                "--num-cpus=1",
                f"--temp-dir={temp / 'worker'}",
                "--min-worker-port=23000",
                "--max-worker-port=25999",
            ],
            temp / "worker.log",
        )
        _wait_for_nodes(address, 2, time.monotonic() + 180)
        yield nodes
    finally:
        nodes.stop_worker()
        _stop(head)
        shutil.rmtree(temp, ignore_errors=True)
