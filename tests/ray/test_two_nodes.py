"""A real two-node Ray cluster (``ray start --head`` + ``ray start --address`` on 127.0.0.1, each
node one CPU, separate temp dirs): a training whose two workers land on both nodes, and a Serve
deployment that keeps answering while the second node stops.

The second node is stopped for good by the last test, so this module runs after the others that
use ``ray_nodes`` (file order: test_jobs.py first).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_deployments import _shutdown, wait_until
from tests.ray.conftest import RayNodes

TRAIN = """
import json, lepton
from lepton.distributed import RayBackend
from lepton.testing import tiny_table
from lepton.workspace import get_workspace

train, valid = tiny_table("classification").split(test_size=0.25, seed=0)
result = lepton.train(lepton.create_model("mlp"), train, valid, epochs=2,
                      backend=RayBackend(num_workers=2), verbose=0)
run = get_workspace().get_run(result.run_id)
print(json.dumps({"nodes": run.tags["ray.worker_nodes"], "backend": run.params["backend"],
                  "epochs": len(result.history["val_loss"]),
                  "predicted": len(result.model.predict(valid))}))
"""


def test_training_workers_land_on_both_nodes(ray_nodes: RayNodes, tmp_path: Path) -> None:
    # each node has one CPU and each worker asks for one: Ray must place one worker per node
    out = subprocess.run(
        [sys.executable, "-c", TRAIN],
        env=ray_nodes.driver_env(LEPTON_HOME=str(tmp_path / "home")),
        capture_output=True,
        text=True,
        timeout=280,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    nodes = seen["nodes"].split(",")
    assert len(nodes) == 2 and len(set(nodes)) == 2, seen
    assert (seen["backend"], seen["epochs"], seen["predicted"]) == ("ray", 2, 30)


def test_a_serve_deployment_keeps_answering_when_a_node_stops(
    ray_nodes: RayNodes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lepton
    from lepton.deployments import ServingError
    from lepton.testing import tiny_table
    from lepton.workspace import reset

    home = tmp_path / "serve-home"
    monkeypatch.setenv("LEPTON_HOME", str(home))
    monkeypatch.setenv("LEPTON_RAY_ADDRESS", ray_nodes.address)  # the control plane inherits it
    reset()
    seen: set[int] = set()
    try:
        train, valid = tiny_table("classification").split(test_size=0.25, seed=0)
        model = lepton.train(lepton.create_model("logistic_regression"), train, valid, verbose=0)
        lepton.register(model.model, "churn")
        dep = lepton.deploy(
            "churn:1", name="churn", backend="ray", replicas=2, config={"ray": {"num_cpus": 0.25}}
        )
        wait_until(lambda: dep.status()["ready"] == 2, 180, "two ready Serve replicas")
        rows = valid.X().head(2).replace({float("nan"): None}).to_dict(orient="records")
        expected = model.model.predict(valid.X().head(2)).tolist()
        answers: list[Any] = []
        failures: list[str] = []
        stop = threading.Event()

        def clients() -> None:
            with dep.client() as client:
                while not stop.is_set():
                    try:
                        answers.append(client.predict(rows))
                    except ServingError as exc:
                        failures.append(str(exc))
                    time.sleep(0.05)

        thread = threading.Thread(target=clients, daemon=True)
        thread.start()
        wait_until(lambda: len(answers) >= 10, 60, "answers before the node stops")
        before = len(answers)
        ray_nodes.stop_worker()
        wait_until(lambda: len(answers) >= before + 40, 120, "answers after the node stopped")
        # Serve replaces the replica the stopped node held, on the head
        wait_until(lambda: dep.status()["ready"] == 2, 180, "two ready replicas again")
        stop.set()
        thread.join(timeout=30)
        assert failures == []
        assert all(list(a) == expected for a in answers)
        dep.stop()
    finally:
        _shutdown(home, seen)
        reset()
        os.environ.pop("LEPTON_RAY_ADDRESS", None)
