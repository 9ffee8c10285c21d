"""A real two-node Ray cluster (``ray start --head`` + ``ray start --address`` on 127.0.0.1, each
node one CPU, separate temp dirs): a Serve deployment keeps answering while the second node
stops. (Training across both nodes: tests/ray/test_train.py.)

The second node is stopped for good here, so this module runs after the others that use
``ray_nodes`` (file order: test_jobs.py and test_train.py first).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_deployments import _shutdown, wait_until
from tests.ray.conftest import RayNodes


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
