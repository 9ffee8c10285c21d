"""The embedded workspace end to end with its metadata in PostgreSQL and its artifacts in S3."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from tests.services import PostgresServer, S3Server

import lepton
from lepton.store._s3 import S3ArtifactStore
from lepton.workspace import get_workspace
from lepton.workspace._local import LocalWorkspace

pytestmark = [pytest.mark.postgres, pytest.mark.s3]


def test_runs_on_postgres_with_artifacts_on_s3(
    postgres_db_url: str,
    postgres_server: PostgresServer,
    s3_url: str,
    s3_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import psycopg

    monkeypatch.setenv("LEPTON_DB_URL", postgres_db_url)
    monkeypatch.setenv("LEPTON_ARTIFACTS", s3_url)
    weights = tmp_path / "weights.bin"
    weights.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    report = tmp_path / "report"
    (report / "plots").mkdir(parents=True)
    (report / "summary.md").write_text("# all good")
    (report / "plots" / "loss.csv").write_text("step,loss\n0,1.0\n")

    with lepton.start_run(name="remote", project="stores", tags={"where": "pg+s3"}) as run:
        run.log_params({"lr": 0.01, "layers": [64, 32]})
        for step in range(50):
            run.log_metric("loss", 1.0 / (step + 1))
        run.log_artifact(weights, "model/weights.bin")
        run.log_artifact(report)
        run.log_text("hello from s3", "notes/hello.txt")

    ws = get_workspace()
    assert isinstance(ws, LocalWorkspace)
    assert ws.meta.engine.dialect.name == "postgresql"
    assert isinstance(ws.artifacts, S3ArtifactStore)

    info = ws.get_run(run.id)
    assert (info.status, info.project, info.name) == ("finished", "stores", "remote")
    assert info.params == {"lr": 0.01, "layers": [64, 32]}
    assert info.tags == {"where": "pg+s3"}
    assert info.metrics == {"loss": pytest.approx(1 / 50)}
    assert [p.step for p in ws.metric_history(run.id, "loss")] == list(range(50))

    listed = {a.path: a for a in run.list_artifacts()}
    assert sorted(listed) == [
        "model/weights.bin",
        "notes/hello.txt",
        "report/plots/loss.csv",
        "report/summary.md",
    ]
    assert listed["model/weights.bin"].sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    with ws.open_artifact(run.id, "notes/hello.txt") as stream:
        assert stream.read() == b"hello from s3"
    down = run.download_artifacts("report", tmp_path / "down")
    assert (down / "summary.md").read_text() == "# all good"
    assert (down / "plots" / "loss.csv").read_text() == "step,loss\n0,1.0\n"

    # the rows really are in PostgreSQL, and the objects really are in the bucket
    database = postgres_db_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server.conninfo(database)) as conn:
        assert conn.execute(
            "SELECT count(*) FROM metrics WHERE run_id = %s", (run.id,)
        ).fetchone() == (50,)
        assert conn.execute(
            "SELECT count(*) FROM artifacts WHERE run_id = %s", (run.id,)
        ).fetchone() == (4,)
    bucket, prefix = s3_url.removeprefix("s3://").split("/", 1)
    objects = s3_server.client().list_objects_v2(
        Bucket=bucket, Prefix=f"{prefix}/runs/{run.id}/artifacts/"
    )
    assert sorted(o["Key"].rsplit("/artifacts/", 1)[1] for o in objects["Contents"]) == sorted(
        listed
    )

    # resuming the run continues its metric steps
    with lepton.start_run(run_id=run.id[:8]) as resumed:
        resumed.log_metric("loss", 0.001)
    assert [p.step for p in resumed.history("loss")][-2:] == [49, 50]
    assert ws.get_run(run.id).status == "finished"
