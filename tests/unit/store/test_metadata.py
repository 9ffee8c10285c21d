"""The metadata store and the LocalWorkspace over it, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from lepton.errors import (
    ArtifactNotFoundError,
    ConfigError,
    InvalidParameterError,
    ProjectExistsError,
    ProjectNotFoundError,
    RunNotFoundError,
)
from lepton.store import MetadataStore
from lepton.store import _metadata as metadata_module
from lepton.store._engine import HEAD_REVISION, current_revision, open_engine
from lepton.workspace import RunInfo
from lepton.workspace._local import LocalWorkspace

TABLES = {"projects", "runs", "params", "tags", "metrics", "artifacts", "run_inputs"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty metadata database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta' / 'lepton.db'}"
    url: str = request.getfixturevalue("postgres_db_url")
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[MetadataStore]:
    meta = MetadataStore(db_url)
    yield meta
    meta.close()


@pytest.fixture
def ws(db_url: str, tmp_path: Path) -> Iterator[LocalWorkspace]:
    workspace = LocalWorkspace(db_url, str(tmp_path / "artifacts"))
    yield workspace
    workspace.close()


def _ids(runs: list[RunInfo]) -> list[str]:
    return [r.id for r in runs]


# schema and migrations ------------------------------------------------------------------------
def test_migrations_create_the_schema(store: MetadataStore) -> None:
    inspector = inspect(store.engine)
    assert TABLES | {"alembic_version"} <= set(inspector.get_table_names())
    assert current_revision(store.engine) == HEAD_REVISION
    assert "ix_metrics_run_key_step" in {i["name"] for i in inspector.get_indexes("metrics")}
    assert "ix_runs_project_start" in {i["name"] for i in inspector.get_indexes("runs")}


def test_reopening_a_migrated_database_is_a_no_op(db_url: str) -> None:
    first = MetadataStore(db_url)
    first.insert_project("kept", None, "")
    first.close()
    again = MetadataStore(db_url)
    try:
        assert current_revision(again.engine) == HEAD_REVISION
        with again.read() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert versions == [HEAD_REVISION]
        assert [p["name"] for p in again.list_projects()] == ["kept"]
    finally:
        again.close()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    meta = MetadataStore(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with meta.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        meta.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql+pymysql://u@h/db", "Unsupported database 'mysql'"),
        ("postgresql+psycopg2://u@h/db", "Use the psycopg 3 driver"),
        ("not a url", "Invalid database URL 'not a url'"),
    ],
)
def test_open_engine_rejects_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_engine(url)


# projects ---------------------------------------------------------------------------------------
def test_projects_create_get_list(ws: LocalWorkspace) -> None:
    created = ws.create_project("beta", path="/somewhere/beta", description="second")
    ws.create_project("alpha")
    assert ws.get_project("beta") == created
    assert created.path == "/somewhere/beta" and created.description == "second"
    assert [p.name for p in ws.list_projects()] == ["alpha", "beta"]
    assert ws.ensure_project("alpha") == ws.get_project("alpha")
    assert ws.ensure_project("gamma").name == "gamma"
    assert len(ws.list_projects()) == 3


def test_project_path_can_be_updated(ws: LocalWorkspace) -> None:
    project = ws.create_project("moved")
    ws.meta.update_project_path(project.id, "/new/home")
    assert ws.get_project("moved").path == "/new/home"


def test_duplicate_project_raises(ws: LocalWorkspace) -> None:
    ws.create_project("dup")
    with pytest.raises(ProjectExistsError, match="A project named 'dup' already exists"):
        ws.create_project("dup")


def test_missing_project_lists_existing_names(ws: LocalWorkspace) -> None:
    with pytest.raises(
        ProjectNotFoundError, match="No project named 'nope'. There are no projects"
    ):
        ws.get_project("nope")
    ws.create_project("beta")
    ws.create_project("alpha")
    with pytest.raises(
        ProjectNotFoundError, match=r"No project named 'nope'\. Existing projects: 'alpha', 'beta'"
    ):
        ws.get_project("nope")


def test_invalid_project_name_raises(ws: LocalWorkspace) -> None:
    with pytest.raises(InvalidParameterError, match="Invalid project name '../up'"):
        ws.create_project("../up")


# runs -----------------------------------------------------------------------------------------
def test_create_and_get_run(ws: LocalWorkspace) -> None:
    run = ws.create_run("p", "first", lineage={"git": "abc"}, tags={"team": "risk"})
    assert run.status == "running" and run.project == "p" and run.name == "first"
    assert run.end_time is None and run.tags == {"team": "risk"}
    assert len(run.id) == 32
    got = ws.get_run(run.id)
    assert got.id == run.id and got.project == "p" and got.tags == {"team": "risk"}
    assert got.lineage == {"git": "abc"}
    assert got.params == {} and got.metrics == {} and got.inputs == []
    assert ws.get_run(run.id[:6]).id == run.id


def test_get_run_by_prefix(ws: LocalWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws.create_project("p")  # before new_id is pinned: only the runs take the ids below
    ids = iter(["abcd" + "0" * 28, "abcd" + "1" * 28, "ef12" + "0" * 28])
    monkeypatch.setattr(metadata_module, "new_id", lambda: next(ids))
    first, second, third = (ws.create_run("p", name) for name in ("a", "b", "c"))
    assert ws.get_run("ef12").id == third.id
    assert ws.get_run("abcd1").id == second.id
    assert ws.get_run(first.id).id == first.id
    with pytest.raises(InvalidParameterError, match="prefix 'abcd' matches several runs"):
        ws.get_run("abcd")
    with pytest.raises(RunNotFoundError, match="No run named 'ab'"):
        ws.get_run("ab")  # shorter than 4 characters: never a prefix lookup


@pytest.mark.parametrize("prefix", ["%%%%", "____", "ab%_"])
def test_run_prefix_treats_sql_wildcards_literally(ws: LocalWorkspace, prefix: str) -> None:
    for name in ("a", "b"):
        ws.create_run("p", name)
    with pytest.raises(RunNotFoundError, match="No run named"):
        ws.get_run(prefix)


def test_missing_run_lists_recent_ids(ws: LocalWorkspace) -> None:
    with pytest.raises(RunNotFoundError, match="No run named 'feedbeef'. There are no runs yet"):
        ws.get_run("feedbeef")
    run = ws.create_run("p", "r")
    with pytest.raises(RunNotFoundError, match=f"Existing runs: '{run.id}'.*lepton runs list"):
        ws.get_run("feedbeef")


@pytest.mark.parametrize("bad", ["", None, 42])
def test_get_run_rejects_non_string_ids(ws: LocalWorkspace, bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="A run id must be a non-empty string"):
        ws.get_run(bad)  # type: ignore[arg-type]


def test_list_runs_filters(ws: LocalWorkspace) -> None:
    parent = ws.create_run("a", "parent")
    child1 = ws.create_run("a", "child1", parent_id=parent.id[:8])
    child2 = ws.create_run("a", "child2", parent_id=parent.id)
    other = ws.create_run("b", "other")
    ws.end_run(child1.id, "finished")
    ws.end_run(other.id, "failed", "boom")

    assert child1.parent_id == parent.id  # a prefix is resolved to the full id
    assert set(_ids(ws.list_runs())) == {parent.id, child1.id, child2.id, other.id}
    assert set(_ids(ws.list_runs("a"))) == {parent.id, child1.id, child2.id}
    assert _ids(ws.list_runs("b")) == [other.id]
    assert set(_ids(ws.list_runs(status="running"))) == {parent.id, child2.id}
    assert _ids(ws.list_runs(status="failed")) == [other.id]
    assert _ids(ws.list_runs("a", status="finished")) == [child1.id]
    assert set(_ids(ws.list_runs(parent_id=parent.id))) == {child1.id, child2.id}
    assert _ids(ws.list_runs("b", parent_id=parent.id)) == []
    assert ws.list_runs(status="killed") == []


def test_list_runs_newest_first_with_limit_and_offset(ws: LocalWorkspace) -> None:
    made = [ws.create_run("p", f"r{i}") for i in range(7)]
    everything = ws.list_runs("p")
    assert [r.start_time for r in everything] == sorted((r.start_time for r in made), reverse=True)
    assert everything[0].id == made[-1].id
    pages = [ws.list_runs("p", limit=3, offset=offset) for offset in (0, 3, 6)]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [r.id for page in pages for r in page] == _ids(everything)
    assert ws.list_runs("p", limit=3, offset=7) == []


def test_list_runs_rejects_bad_arguments(ws: LocalWorkspace) -> None:
    with pytest.raises(InvalidParameterError, match="Unknown run status 'bogus'; expected one of"):
        ws.list_runs(status="bogus")
    with pytest.raises(
        InvalidParameterError, match="limit must be >= 1 and offset >= 0, got limit=0"
    ):
        ws.list_runs(limit=0)
    with pytest.raises(InvalidParameterError, match="got limit=5, offset=-1"):
        ws.list_runs(limit=5, offset=-1)
    with pytest.raises(ProjectNotFoundError, match="No project named 'ghost'"):
        ws.list_runs("ghost")


def test_create_run_with_unknown_parent_raises(ws: LocalWorkspace) -> None:
    with pytest.raises(RunNotFoundError, match="No run named 'deadbeef'"):
        ws.create_run("p", "orphan", parent_id="deadbeef")


def test_end_and_reopen_run(ws: LocalWorkspace) -> None:
    run = ws.create_run("p", "r")
    before = time.time()
    ws.end_run(run.id, "failed", "ValueError: bad")
    ended = ws.get_run(run.id)
    assert ended.status == "failed" and ended.error == "ValueError: bad"
    assert ended.end_time is not None and ended.end_time >= before
    assert ended.duration is not None and ended.duration >= 0
    reopened = ws.reopen_run(run.id[:10])
    assert reopened.id == run.id and reopened.status == "running" and reopened.error is None
    ws.end_run(run.id, "finished")
    assert ws.get_run(run.id).status == "finished" and ws.get_run(run.id).error is None


def test_reopened_run_has_no_end_time(ws: LocalWorkspace) -> None:
    run = ws.create_run("p", "r")
    ws.end_run(run.id, "killed")
    reopened = ws.reopen_run(run.id)
    assert reopened.end_time is None and reopened.duration is None


@pytest.mark.parametrize("status", ["running", "done", ""])
def test_end_run_rejects_bad_status(ws: LocalWorkspace, status: str) -> None:
    run = ws.create_run("p", "r")
    with pytest.raises(
        InvalidParameterError, match="A run ends as one of finished, failed, killed"
    ):
        ws.end_run(run.id, status)


def test_reopen_missing_run_raises(ws: LocalWorkspace) -> None:
    with pytest.raises(RunNotFoundError, match="No run named 'cafebabe'"):
        ws.reopen_run("cafebabe")


_UNKNOWN_RUN = "f" * 32


@pytest.mark.parametrize("write", ["log_params", "set_tags", "log_metrics"])
def test_writes_to_an_unknown_run_raise_run_not_found(ws: LocalWorkspace, write: str) -> None:
    calls = {
        "log_params": lambda: ws.log_params(_UNKNOWN_RUN, {"lr": 0.1}),
        "set_tags": lambda: ws.set_tags(_UNKNOWN_RUN, {"team": "risk"}),
        "log_metrics": lambda: ws.log_metrics([(_UNKNOWN_RUN, "loss", 0, 1.0, 0.5)]),
    }
    with pytest.raises(RunNotFoundError, match=f"No run named '{_UNKNOWN_RUN}'"):
        calls[write]()


def test_end_run_of_an_unknown_run_raises(ws: LocalWorkspace) -> None:
    with pytest.raises(RunNotFoundError, match=f"No run named '{_UNKNOWN_RUN}'"):
        ws.end_run(_UNKNOWN_RUN, "finished")


def test_lineage_updates_merge(ws: LocalWorkspace) -> None:
    run = ws.create_run("p", "r", lineage={"git": "abc", "python": "3.11"})
    ws.update_lineage(run.id, {"git": "def", "dataset": {"name": "credit", "version": "v1"}})
    assert ws.get_run(run.id).lineage == {
        "git": "def",
        "python": "3.11",
        "dataset": {"name": "credit", "version": "v1"},
    }


# params and tags ------------------------------------------------------------------------------
def test_params_upsert(ws: LocalWorkspace) -> None:
    run = ws.create_run("p", "r")
    other = ws.create_run("p", "other")
    ws.log_params(run.id, {"lr": 0.1, "layers": [64, 32], "name": "x", "flag": True})
    ws.log_params(run.id, {"lr": 0.2, "dropout": None})
    ws.log_params(other.id, {"lr": 9})
    ws.log_params(run.id, {})
    assert ws.get_run(run.id).params == {
        "lr": 0.2,
        "layers": [64, 32],
        "name": "x",
        "flag": True,
        "dropout": None,
    }
    assert ws.get_run(other.id).params == {"lr": 9}
    with ws.meta.read() as conn:
        stored = conn.execute(
            text("SELECT value FROM params WHERE run_id = :r AND key = 'layers'"), {"r": run.id}
        ).scalar()
    assert json.loads(stored) == [64, 32]


def test_tags_upsert(ws: LocalWorkspace) -> None:
    run = ws.create_run("p", "r", tags={"team": "risk", "stage": "dev"})
    ws.set_tags(run.id, {"stage": "prod", "owner": "ana", "n": 3})  # type: ignore[dict-item]
    assert ws.get_run(run.id).tags == {"team": "risk", "stage": "prod", "owner": "ana", "n": "3"}


# metrics ----------------------------------------------------------------------------------------
def test_metric_batches_history_and_latest(ws: LocalWorkspace) -> None:
    run = ws.create_run("p", "r")
    other = ws.create_run("p", "other")
    now = time.time()
    ws.log_metrics([(run.id, "loss", step, now + step, 1.0 / (step + 1)) for step in range(5)])
    ws.log_metrics([(run.id, "acc", 2, now, 0.7), (run.id, "acc", 0, now, 0.5)])
    ws.log_metrics([(other.id, "loss", 0, now, 42.0)])
    ws.log_metrics([])

    history = ws.metric_history(run.id)
    assert [(p.key, p.step) for p in history] == [("acc", 0), ("acc", 2)] + [
        ("loss", s) for s in range(5)
    ]
    loss = ws.metric_history(run.id, "loss")
    assert [p.value for p in loss] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    assert loss[3].timestamp == pytest.approx(now + 3)
    # the latest value is the one at the highest step, not the last one inserted
    assert ws.get_run(run.id).metrics == pytest.approx({"loss": 0.2, "acc": 0.7})
    assert ws.get_run(other.id).metrics == {"loss": 42.0}
    assert ws.last_steps(run.id) == {"loss": 4, "acc": 2}
    assert ws.last_steps(ws.create_run("p", "empty").id) == {}
    assert ws.metric_history(run.id, "missing") == []


def test_latest_metric_breaks_step_ties_by_newest_point(ws: LocalWorkspace) -> None:
    run = ws.create_run("p", "r")
    ws.log_metrics([(run.id, "loss", 7, 1.0, 0.3)])
    ws.log_metrics([(run.id, "loss", 7, 2.0, 0.1)])
    assert ws.get_run(run.id).metrics == {"loss": 0.1}
    assert [p.value for p in ws.metric_history(run.id, "loss")] == [0.3, 0.1]


def test_large_metric_batch_and_big_steps(ws: LocalWorkspace) -> None:
    run = ws.create_run("p", "r")
    rows = [(run.id, f"m{i % 4}", i // 4, 1.0, float(i)) for i in range(10_000)]
    ws.log_metrics(rows)
    big = 2**40
    ws.log_metrics([(run.id, "big", big, 1.0, -1.5e300)])
    assert len(ws.metric_history(run.id)) == 10_001
    assert ws.last_steps(run.id) == {"m0": 2499, "m1": 2499, "m2": 2499, "m3": 2499, "big": big}
    assert ws.get_run(run.id).metrics["big"] == -1.5e300
    assert ws.get_run(run.id).metrics["m3"] == 9_999.0


def test_list_runs_attaches_each_runs_own_details(ws: LocalWorkspace) -> None:
    runs = [ws.create_run("p", f"r{i}", tags={"i": str(i)}) for i in range(3)]
    for i, run in enumerate(runs):
        ws.log_params(run.id, {"i": i})
        ws.log_metrics([(run.id, "score", 0, 1.0, float(i))])
        ws.add_run_inputs(run.id, [("dataset", "d", f"v{i}")])
    for info in ws.list_runs("p"):
        i = int(info.tags["i"])
        assert info.params == {"i": i} and info.metrics == {"score": float(i)}
        assert info.inputs == [{"kind": "dataset", "name": "d", "version": f"v{i}"}]


# run inputs and artifacts ---------------------------------------------------------------------
def test_run_inputs_are_recorded_once(ws: LocalWorkspace) -> None:
    run = ws.create_run("p", "r")
    ws.add_run_inputs(run.id, [("dataset", "credit", "3f2a"), ("model", "base", "v1")])
    ws.add_run_inputs(run.id, [("dataset", "credit", "3f2a"), ("dataset", "credit", "9b01")])
    ws.add_run_inputs(run.id, [])
    inputs = sorted(ws.get_run(run.id).inputs, key=lambda i: (i["kind"], i["version"]))
    assert inputs == [
        {"kind": "dataset", "name": "credit", "version": "3f2a"},
        {"kind": "dataset", "name": "credit", "version": "9b01"},
        {"kind": "model", "name": "base", "version": "v1"},
    ]


def test_artifact_records(ws: LocalWorkspace, tmp_path: Path) -> None:
    import hashlib

    run = ws.create_run("p", "r")
    single = tmp_path / "model.bin"
    single.write_bytes(b"weights" * 1000)
    folder = tmp_path / "report"
    (folder / "plots").mkdir(parents=True)
    (folder / "summary.md").write_text("# ok")
    (folder / "plots" / "roc.png").write_bytes(b"\x89PNG")

    logged = ws.log_artifact(run.id, single)
    assert [(a.path, a.size) for a in logged] == [("model.bin", 7000)]
    assert logged[0].sha256 == hashlib.sha256(b"weights" * 1000).hexdigest()
    ws.log_artifact(run.id, folder, "outputs/report")
    single.write_bytes(b"v2")
    ws.log_artifact(run.id, single)  # the same path again replaces the record

    listed = ws.list_artifacts(run.id)
    assert [a.path for a in listed] == [
        "model.bin",
        "outputs/report/plots/roc.png",
        "outputs/report/summary.md",
    ]
    assert listed[0].size == 2 and listed[0].sha256 == hashlib.sha256(b"v2").hexdigest()
    assert all(a.created_at > 0 for a in listed)
    with ws.open_artifact(run.id, "outputs/report/summary.md") as stream:
        assert stream.read() == b"# ok"

    dest = ws.download_artifacts(run.id, "outputs/report", tmp_path / "down")
    assert (dest / "summary.md").read_text() == "# ok"
    assert (dest / "plots" / "roc.png").read_bytes() == b"\x89PNG"
    one = ws.download_artifacts(run.id, "model.bin", tmp_path / "one" / "m.bin")
    assert one.read_bytes() == b"v2"
    assert ws.list_artifacts(ws.create_run("p", "empty").id) == []


def test_missing_artifacts_raise(ws: LocalWorkspace, tmp_path: Path) -> None:
    run = ws.create_run("p", "r")
    source = tmp_path / "a.txt"
    source.write_text("a")
    ws.log_artifact(run.id, source)
    with pytest.raises(
        ArtifactNotFoundError, match=r"No artifact named 'b.txt'\. Existing .*'a.txt'"
    ):
        ws.open_artifact(run.id, "b.txt")
    with pytest.raises(ArtifactNotFoundError, match="No artifact named 'nothing/here'"):
        ws.download_artifacts(run.id, "nothing/here", tmp_path / "out")
    with pytest.raises(ArtifactNotFoundError, match="log_artifact needs an existing file"):
        ws.log_artifact(run.id, tmp_path / "absent.txt")
    with pytest.raises(InvalidParameterError, match="Invalid artifact key"):
        ws.log_artifact(run.id, source, "../escape.txt")
