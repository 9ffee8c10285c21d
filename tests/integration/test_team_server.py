"""The team server as a team would run it: ``lepton server start`` as its own process on
PostgreSQL and SeaweedFS, ``lepton login``, then the SDK and CLI unchanged. Also: the server is
killed in the middle of a dataset upload (no partial version becomes visible) and restarted
(everything is still there, the audit chain still verifies)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.live_server import free_port
from tests.services import S3Server, stop_pid
from typer.testing import CliRunner

import lepton
from lepton import monitoring
from lepton.cli._app import app
from lepton.deployments import get_deployment
from lepton.workspace import get_workspace, reset

pytestmark = [pytest.mark.postgres, pytest.mark.s3, pytest.mark.slow]

MARKER = "plaintext-marker-7f3a"


class ServerProcess:
    def __init__(self, home: Path, db_url: str, artifacts: str, port: int) -> None:
        self.home, self.port = home, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = home.parent / f"server-{port}.log"
        command = [
            sys.executable,
            "-m",
            "lepton.cli",
            "server",
            "start",
            "--port",
            str(port),
            "--home",
            str(home),
            "--db",
            db_url,
            "--artifacts",
            artifacts,
        ]
        env = {**os.environ, "LEPTON_URL": ""}
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"server did not start:\n{self.log.read_text()}")

    def output(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            stop_pid(self.process.pid)
            self.process.wait(60)


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_team_server_on_postgres_and_s3(
    postgres_db_url: str,
    s3_url: str,
    s3_server: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "server"
    server = ServerProcess(home, postgres_db_url, s3_url, free_port())
    replicas: list[int] = []
    try:
        printed = server.output()
        key = re.search(r"\b(lp_[A-Za-z0-9_-]{20,})\b", printed)
        assert key, printed
        assert "Encryption at rest is on" in printed
        assert (home / "master.key").stat().st_mode & 0o777 == 0o600

        # lepton login: a fresh "laptop" with nothing but the URL and the key
        monkeypatch.setenv("LEPTON_CREDENTIALS", str(tmp_path / "laptop-credentials.json"))
        out = cli("login", server.url, "--token", key.group(1))
        assert "Logged in" in out and "admin" in out
        assert (tmp_path / "laptop-credentials.json").stat().st_mode & 0o777 == 0o600
        reset()
        assert type(get_workspace()).__name__ == "RemoteWorkspace"

        # the SDK, unchanged: a dataset, a tracked training run, the registry
        rng = np.random.default_rng(0)
        frame = pd.DataFrame({"x1": rng.normal(size=300), "x2": rng.normal(size=300)})
        frame["label"] = (frame.x1 + frame.x2 > 0).astype(int)
        frame["note"] = MARKER
        frame.to_csv(tmp_path / "table.csv", index=False)
        lepton.create_project("team", path=str(tmp_path / "team"))
        data = lepton.Dataset.from_csv(
            tmp_path / "table.csv", name="table", target="label"
        ).exclude_features("note")
        data.register(project="team")
        with lepton.start_run(name="manual", project="team") as run:
            for step in range(20):
                run.log_metric("loss", 1 / (step + 1), step=step)
            run.log_text(MARKER, "notes/marker.txt")
        model = lepton.create_model("logistic_regression")
        result = lepton.train(model, data, verbose=False)
        version = lepton.register(result.model, "scorer")
        assert version.version == 1

        listed = json.loads(cli("runs", "list", "--json"))
        assert {r["name"] for r in listed} >= {"manual"}
        assert "table" in cli("data", "list")
        loaded = lepton.load_model("scorer:1")
        assert (loaded.predict(frame.head(5)) == result.model.predict(frame.head(5))).all()

        # encrypted at rest: the marker is nowhere in the bucket's raw bytes
        bucket = s3_url.removeprefix("s3://").split("/", 1)[0]
        client = s3_server.client()
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
        assert keys
        for object_key in keys:
            body = client.get_object(Bucket=bucket, Key=object_key)["Body"].read()
            assert MARKER.encode() not in body, object_key

        # a deployment and an alert rule, run by the server's control plane
        deployment = lepton.deploy("scorer:1", name="scorer", replicas=1)
        deployment_key = deployment.api_key
        sample = frame.head(3)[["x1", "x2"]].to_dict("records")
        with deployment.client() as client:
            assert client.predict(sample) == list(result.model.predict(frame.head(3)))
        rule = monitoring.create_alert("scorer", "error_rate", above=0.5, for_="1m")

        # kill the server in the middle of a large dataset upload
        big = tmp_path / "big.csv"
        pd.DataFrame({"a": np.arange(3_000_000), "b": 1.5}).to_csv(big, index=False)
        before = [v.version for v in get_workspace().list_dataset_versions("table", "team")]
        failure: list[BaseException] = []

        def upload() -> None:
            try:
                lepton.Dataset.from_csv(big, name="table").register(project="team")
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=upload)
        thread.start()
        time.sleep(2.5)  # reading the CSV and hashing it, then streaming it to the server
        # replicas run in their own sessions: the killed server's are stopped by pid below
        replicas += [r["pid"] for r in deployment.info.state.get("replicas", []) if r.get("pid")]
        server.kill()
        thread.join(120)
        reset()
        server = ServerProcess(home, postgres_db_url, s3_url, server.port)
        after = [v.version for v in get_workspace().list_dataset_versions("table", "team")]
        if failure:  # the usual case: the upload was cut
            assert after == before
        else:  # the upload finished before the kill: then it is whole
            assert len(after) == len(before) + 1

        # the deployment and the alert resume from the store
        deployment = get_deployment("scorer").wait(timeout=180)
        with deployment.client(api_key=deployment_key) as client:
            assert client.predict(sample) == list(result.model.predict(frame.head(3)))
        assert [r.id for r in monitoring.list_alerts("scorer")] == [rule.id]
        deployment.stop()

        # after the restart everything is still there and the audit chain verifies
        assert get_workspace().get_run(run.id).metrics == {"loss": pytest.approx(1 / 20)}
        assert "1 entries" not in cli("audit", "verify")
    finally:
        reset()
        server.stop()
        for pid in replicas:
            stop_pid(pid)
