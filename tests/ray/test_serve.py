"""Serving on Ray Serve end to end: ``lepton.deploy(..., backend="ray")`` through a real control
plane (a Ray driver on the session's cluster), real Serve replicas, real HTTP.

One Ray deployment ("credit") and one local deployment of the same model version
("credit-local", to compare answers with) are shared by the tests of this module, which run in
file order and build on each other: the HTTP contract, metrics and drift inputs, scale, a rolling
update under load, stop. Every process started here (the control plane and its local replica)
is stopped by pid in the module fixture's teardown.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.integration.test_deployments import (
    Load,
    _shutdown,
    cli,
    refuses,
    wait_until,
)

NAME = "credit"
LOCAL = "credit-local"
# every request sampled (drift inputs), a quarter CPU per replica: 2 replicas and a rolling
# update's surge fit the session cluster's 2 CPUs
CONFIG: dict[str, Any] = {"sample_rate": 1.0, "ray": {"num_cpus": 0.25}}


@dataclass
class Env:
    home: Path
    dep: Any  # lepton.deployments.Deployment, backend="ray"
    local: Any  # the same model version deployed locally
    key: str
    records: list[dict[str, Any]]
    models: dict[int, Any]
    pids: set[int]

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.dep.status()
        return status


@pytest.fixture(scope="module")
def env(ray_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """Two registered versions of "credit" (v1 logistic regression, v2 LightGBM), v1 deployed on
    Ray Serve and locally, with the control plane joined to the session's cluster."""
    import lepton
    from lepton.demo._credit import credit_table
    from lepton.workspace import reset

    root = tmp_path_factory.mktemp("serve")
    home, work = root / "home", root / "work"
    work.mkdir()
    seen: set[int] = set()
    address = ray_session.get_runtime_context().gcs_address
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("LEPTON_"):
                patch.delenv(name)
        patch.setenv("LEPTON_HOME", str(home))
        patch.setenv("LEPTON_RAY_ADDRESS", address)  # the control plane inherits it
        patch.setenv("RAY_AUTH_MODE", "disabled")
        patch.chdir(work)
        reset()
        try:
            data = lepton.Dataset.from_pandas(
                credit_table(rows=400), target="default", name="credit"
            ).exclude_features("sex", "age_group")
            train, valid = data.split(test_size=0.25, seed=0)
            models = {}
            for version, kind in ((1, "logistic_regression"), (2, "lightgbm")):
                result = lepton.train(lepton.create_model(kind), train, valid, verbose=0)
                assert lepton.register(result.model, NAME).version == version
                models[version] = result.model
            records = valid.X().replace({float("nan"): None}).to_dict(orient="records")
            dep = lepton.deploy(f"{NAME}:1", name=NAME, backend="ray", config=CONFIG)
            local = lepton.deploy(f"{NAME}:1", name=LOCAL, config={"sample_rate": 1.0})
            assert dep.api_key and local.api_key
            seen.update(r["pid"] for r in local.status()["replica_details"])
            yield Env(home, dep, local, dep.api_key, records, models, seen)
        finally:
            _shutdown(home, seen)
            reset()


def _post(url: str, body: Any, key: str | None) -> Any:
    import httpx

    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{url}/v1/predict", json=body, headers=headers, timeout=30)


def _app_names() -> set[str]:
    from ray import serve

    return set(serve.status().applications)


# the shared deployment's tests, in order ----------------------------------------------------------
class TestOnRayServe:
    """The shared Ray deployment, in file order."""

    @pytest.fixture
    def lepton_home(self, env: Env) -> Path:
        """Overrides the per-test LEPTON_HOME of tests/conftest.py: these tests share the module's."""
        return env.home

    def test_a_ray_deployment_runs_on_serve_behind_its_own_address(
        self, env: Env, ray_session: Any
    ) -> None:
        status = env.status()
        assert (status["status"], status["backend"], status["model"]) == (
            "running",
            "ray",
            f"{NAME}:1",
        )
        assert (status["replicas"], status["ready"], status["served_versions"]) == (1, 1, [1])
        assert status["url"].startswith("http://127.0.0.1:")
        replica = status["replica_details"][0]
        assert replica["replica_id"] and replica["pid"] and replica["version"] == 1
        assert any(name.endswith(f"-{NAME}") for name in _app_names())
        assert env.local.status()["backend"] == "local"

    def test_the_http_contract_is_the_local_one(self, env: Env) -> None:
        rows = env.records[:20]
        on_ray = _post(env.dep.url, {"inputs": rows}, env.key)
        local = _post(env.local.url, {"inputs": rows}, env.local.api_key)
        assert on_ray.status_code == local.status_code == 200
        ray_json, local_json = on_ray.json(), local.json()
        assert ray_json.pop("model") == NAME and local_json.pop("model") == LOCAL
        assert ray_json == local_json  # predictions, probabilities, classes, version
        expected = env.models[1].predict_proba(pd.DataFrame(rows).fillna(np.nan))
        np.testing.assert_allclose(ray_json["probabilities"], expected, atol=1e-4)

        # refusals: same status, same body
        for body, key, status in (
            ({"inputs": rows[:1]}, None, 401),
            ({"inputs": rows[:1]}, "lp_wrong", 401),
            ({"inputs": [{**rows[0], "income": "a lot"}]}, env.key, 422),
            ({"inputs": []}, env.key, 422),
            ({"rows": rows[:1]}, env.key, 422),
        ):
            on_ray = _post(env.dep.url, body, key)
            local_key = env.local.api_key if key == env.key else key
            local = _post(env.local.url, body, local_key)
            assert on_ray.status_code == local.status_code == status, on_ray.text
            assert on_ray.json() == local.json()
            if status == 401:
                assert on_ray.headers["www-authenticate"] == "Bearer"
        bad = _post(env.dep.url, {"inputs": [{**rows[0], "income": "a lot"}]}, env.key).json()
        assert (
            bad["error"]["code"] == "invalid_input" and bad["error"]["field"] == "inputs[0].income"
        )

    def test_the_python_client_and_the_other_routes(self, env: Env) -> None:
        import httpx

        import lepton
        from lepton.deployments import UnauthorizedError

        client = env.dep.client()
        assert client.predict(env.records[:3]) == env.local.client().predict(env.records[:3])
        with pytest.raises(UnauthorizedError, match="401: Missing or wrong API key"):
            lepton.Client(env.dep.url, retries=0).predict(env.records[:1])
        info = client.model_info()
        assert (info["name"], info["version"], info["task"]) == (NAME, 1, "classification")

        auth = {"authorization": f"Bearer {env.key}"}
        metrics = httpx.get(f"{env.dep.url}/metrics", headers=auth, timeout=30)
        assert metrics.status_code == 200 and "lepton_requests_total" in metrics.text
        assert 'lepton_requests_total{status="200"}' in metrics.text
        assert httpx.get(f"{env.dep.url}/metrics", timeout=30).status_code == 401
        assert httpx.get(f"{env.dep.url}/readyz", timeout=30).json()["ready"] is True
        assert httpx.get(f"{env.dep.url}/v1/nothing", timeout=30).status_code == 404
        openapi = httpx.get(f"{env.dep.url}/openapi.json", timeout=30)
        assert openapi.status_code == 200 and "/v1/predict" in openapi.json()["paths"]
        samples = httpx.get(f"{env.dep.url}/v1/samples", headers=auth, timeout=30)
        assert samples.status_code == 403  # the control plane's only

    def test_the_control_plane_scrapes_metrics_and_samples(self, env: Env) -> None:
        from lepton.workspace import get_workspace

        since = time.time()
        client = env.dep.client()
        for i in range(10):
            client.predict(env.records[i : i + 2])

        def scraped() -> bool:
            points = env.dep.metrics(since="15m")
            return any(p.get("requests", 0) > 0 and p.get("ts", 0) >= since for p in points)

        wait_until(scraped, 90, "a metrics point with the new requests")
        points = [p for p in env.dep.metrics(since="15m") if p.get("requests", 0) > 0]
        assert points[-1]["replicas"] >= 1 and points[-1]["p50_latency_ms"] > 0
        assert points[-1]["error_rate"] == 0.0

        wait_until(
            lambda: len(get_workspace().request_samples(NAME, since=since)) >= 20,
            60,
            "the sampled requests in the store",
        )
        sample = get_workspace().request_samples(NAME, since=since)[0]
        assert sample["model_version"] == 1 and len(sample["inputs"]) == len(env.records[0])
        report = env.dep.drift()
        assert report.samples >= 20

    def test_scale_to_two_replicas(self, env: Env) -> None:
        before = {r["replica_id"] for r in env.status()["replica_details"]}
        env.dep.scale(2)
        status = env.status()
        assert (status["replicas"], status["ready"], status["status"]) == (2, 2, "running")
        ids = {r["replica_id"] for r in status["replica_details"]}
        assert len(ids) == 2 and before <= ids  # scaled in place: the first replica kept serving
        seen = {env.dep.client().predict_full(env.records[:1])["version"] for _ in range(6)}
        assert seen == {1}

    def test_update_rolls_replicas_without_failed_requests(self, env: Env) -> None:
        before = {r["replica_id"] for r in env.status()["replica_details"]}
        with Load(env.dep.url, env.key, env.records, threads=3, seconds=240) as load:
            wait_until(lambda: load.ok >= 20, 60, "requests before the update")
            env.dep.update(f"{NAME}:2")
            target = load.ok + 20
            wait_until(lambda: load.ok >= target, 60, "requests after the update")
        assert load.failures == [], load.failures[:5]
        assert load.versions[1] > 0 and load.versions[2] > 0

        status = env.status()
        assert (status["model"], status["served_versions"], status["ready"]) == (
            f"{NAME}:2",
            [2],
            2,
        )
        assert not before & {r["replica_id"] for r in status["replica_details"]}
        result = env.dep.client().predict_full(env.records[:20])
        assert result["version"] == 2
        expected = env.models[2].predict_proba(pd.DataFrame(env.records[:20]).fillna(np.nan))
        np.testing.assert_allclose(result["probabilities"], expected, atol=1e-4)

    def test_an_autoscaled_deployment(self, env: Env) -> None:
        import lepton
        from lepton.errors import InvalidParameterError

        scaling = {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 8}
        config = {"ray": {"num_cpus": 0.25, "autoscaling": scaling}}
        auto = lepton.deploy(f"{NAME}:2", name="credit-auto", backend="ray", config=config)
        try:
            status = auto.status()
            assert (status["status"], status["ready"], status["served_versions"]) == (
                "running",
                1,
                [2],
            )
            assert auto.client().predict(env.records[:2])
            with pytest.raises(InvalidParameterError, match="autoscales on Ray Serve"):
                auto.scale(2)
        finally:
            auto.stop()
        assert auto.status()["status"] == "stopped"

    def test_stop_deletes_the_serve_application(self, env: Env, ray_session: Any) -> None:
        env.dep.stop()
        assert env.status()["status"] == "stopped"
        assert refuses(env.dep.url)
        assert not any(name.endswith(f"-{NAME}") for name in _app_names())


# refusals, in the caller's process ----------------------------------------------------------
def test_no_cluster_at_the_address_is_a_backend_error(
    ray_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.live_server import free_port

    import lepton
    from lepton.errors import BackendError

    monkeypatch.setenv("LEPTON_RAY_ADDRESS", f"127.0.0.1:{free_port()}")
    with pytest.raises(BackendError, match="No Ray cluster answered at 127.0.0.1:.*ray start"):
        lepton.deploy("anything:1", name="nowhere", backend="ray")
    out = cli("deploy", "anything:1", "--backend", "ray", check=False)  # the CLI says the same
    assert out.returncode != 0 and "No Ray cluster answered" in out.stdout + out.stderr


def test_gpus_the_cluster_lacks_are_a_backend_error(
    ray_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lepton
    from lepton.errors import BackendError

    monkeypatch.setenv("LEPTON_RAY_ADDRESS", ray_session.get_runtime_context().gcs_address)
    with pytest.raises(BackendError, match="asks for 1 GPU.*has 0"):
        lepton.deploy("anything:1", backend="ray", config={"ray": {"num_gpus": 1}})


def test_ray_settings_are_checked(ray_backend: str) -> None:
    import lepton
    from lepton.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="Unknown Ray serving setting.*gpus"):
        lepton.deploy("anything:1", config={"ray": {"gpus": 1}})
    with pytest.raises(InvalidParameterError, match="num_cpus'\\] must be a number >= 0"):
        lepton.deploy("anything:1", config={"ray": {"num_cpus": -1}})
    with pytest.raises(InvalidParameterError, match="min_replicas <= max_replicas"):
        lepton.deploy(
            "anything:1", config={"ray": {"autoscaling": {"min_replicas": 3, "max_replicas": 1}}}
        )
    with pytest.raises(InvalidParameterError, match="only a backend='ray' deployment uses"):
        lepton.deploy("anything:1", backend="local", config={"ray": {"num_cpus": 1}})


def test_serve_states_map_to_lepton_statuses() -> None:
    from lepton.distributed._ray_serve import lepton_state

    def seen(app: str, states: dict[str, int], versions: list[int], message: str = "") -> Any:
        replicas = [
            {"replica_id": f"r{i}", "version": v, "age": 1.0, "started_at": i}
            for i, v in enumerate(versions)
        ]
        return {"app": app, "message": message, "states": states, "replicas": replicas}

    status, state, error = lepton_state(seen("RUNNING", {"RUNNING": 2}, [2, 2]), 2, 2, False)
    assert (status, state["served_versions"], error) == ("running", [2], None)
    status, state, _ = lepton_state(
        seen("DEPLOYING", {"RUNNING": 2, "STARTING": 1}, [1, 2]), 2, 2, False
    )
    assert status == "updating" and state["served_versions"] == [1, 2]
    assert [r["status"] for r in state["replicas"]] == ["ready", "ready", "starting"]
    assert lepton_state(seen("DEPLOYING", {"RUNNING": 1}, [2]), 2, 2, False)[0] == "scaling"
    assert lepton_state(seen("DEPLOYING", {"STARTING": 1}, []), 2, 1, False)[0] == "starting"
    status, _, error = lepton_state(
        seen("DEPLOY_FAILED", {}, [], "the constructor raised"), 2, 1, False
    )
    assert status == "failed" and error == "Ray Serve: DEPLOY_FAILED: the constructor raised"
    # autoscaled: Serve's running count is the target
    status, state, _ = lepton_state(seen("RUNNING", {"RUNNING": 3}, [2, 2, 2]), 2, 1, True)
    assert (status, state["target_replicas"]) == ("running", 3)
