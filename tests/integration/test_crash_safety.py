"""Crash safety and concurrency of the stores, with real processes killed by SIGKILL.

A writer killed at any instant must leave either all of a change or none of it: the SQLite file
stays sound, no run is half-written, an artifact key is absent or whole. Several processes
writing to one database at once must all succeed, with exact counts afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lepton.store import LocalArtifactStore
from lepton.workspace._local import LocalWorkspace

BATCH = 1000  # metric points per log_metrics call in the crash test

# A writer that loops until killed: every iteration creates a run (with its tag), sets three
# params, logs two metric batches and ends the run, each in its own transaction, then prints.
_LOOP_WRITER = r"""
import sys, time
from lepton.workspace._local import LocalWorkspace

db_url, artifacts, first, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ws = LocalWorkspace(db_url, artifacts)
deadline = time.monotonic() + 60  # never outlive a test that forgot to kill us
i = first
while time.monotonic() < deadline:
    run = ws.create_run("crash", f"run-{i}", tags={"iteration": str(i)})
    ws.log_params(run.id, {"a": i, "b": 2 * i, "c": "x" * 200})
    for part in range(2):
        ws.log_metrics(
            [(run.id, "loss", part * batch + s, time.time(), float(s)) for s in range(batch)]
        )
    ws.end_run(run.id, "finished")
    print(i, flush=True)
    i += 1
"""

# Stores one file under one key with LocalArtifactStore.put_file.
_PUT_FILE = r"""
import sys
from lepton.store import LocalArtifactStore

store = LocalArtifactStore(sys.argv[1])
print("start", flush=True)
store.put_file(sys.argv[2], sys.argv[3])
print("done", flush=True)
"""

# One of several concurrent writers: waits for the go file, then opens the workspace (so the
# first opens race, migrations included) and writes its runs and metric batches.
_CONCURRENT_WRITER = r"""
import os, sys, time
from lepton.workspace._local import LocalWorkspace

db_url, artifacts, go, worker = sys.argv[1:5]
runs, batches, batch = (int(a) for a in sys.argv[5:8])
print("ready", flush=True)
deadline = time.monotonic() + 30
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit("no go signal within 30 s")
    time.sleep(0.002)
ws = LocalWorkspace(db_url, artifacts)
for r in range(runs):
    run = ws.create_run("shared", f"w{worker}-r{r}", tags={"worker": worker})
    ws.log_params(run.id, {"worker": int(worker), "r": r})
    for b in range(batches):
        ws.log_metrics(
            [(run.id, "loss", b * batch + s, time.time(), float(s)) for s in range(batch)]
        )
        ws.add_run_inputs(run.id, [("dataset", "d", str(b))])
    # many small read-then-write transactions: the kind that fail with "database is locked"
    # when SQLite starts them DEFERRED instead of IMMEDIATE
    for b in range(30):
        ws.set_tags(run.id, {"batch": str(b)})
    ws.end_run(run.id, "finished")
ws.close()
print("done", flush=True)
"""


def _spawn(code: str, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
        )


def _read_lines(
    proc: subprocess.Popen[bytes], count: int, log: Path, timeout: float = 30
) -> list[str]:
    """The first ``count`` lines the child prints, waiting at most ``timeout`` seconds."""
    assert proc.stdout is not None
    fd, pending = proc.stdout.fileno(), b""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while len(lines) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"child printed {lines} in {timeout}s:\n{log.read_text()}")
        if not select.select([fd], [], [], left)[0]:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            raise AssertionError(f"child exited ({proc.wait()}) early:\n{log.read_text()}")
        *done, pending = (pending + chunk).split(b"\n")
        lines += [line.decode() for line in done]
    return lines


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    if proc.stdout is not None:
        proc.stdout.close()


def _finish(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """Wait for a child to exit on its own; SIGKILL it (and fail) if it takes too long."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise AssertionError(f"child {proc.pid} still running after {timeout}s") from None
    finally:
        if proc.stdout is not None:
            proc.stdout.close()


# (a) a SQLite writer killed mid-write ----------------------------------------------------------
def _check_sqlite_file(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def _check_runs_are_whole(ws: LocalWorkspace) -> list[str]:
    """Every run is all or nothing per transaction; returns the ids of runs left running."""
    runs = ws.list_runs("crash", limit=100_000)
    for run in runs:
        i = int(run.name.removeprefix("run-"))
        assert run.tags == {"iteration": str(i)}, run  # inserted with the run, never apart
        points = len(ws.metric_history(run.id))
        assert points in (0, BATCH, 2 * BATCH), (run.name, points)
        assert run.params in ({}, {"a": i, "b": 2 * i, "c": "x" * 200}), run.params
        if run.status == "finished":
            assert points == 2 * BATCH and run.params
    return [r.id for r in runs if r.status == "running"]


def test_sqlite_writer_killed_mid_write_leaves_a_sound_database(tmp_path: Path) -> None:
    db_path = tmp_path / "crash.db"
    db_url, artifacts = f"sqlite:///{db_path}", str(tmp_path / "artifacts")
    log = tmp_path / "writer.log"
    seen = 0
    for round_ in range(3):
        writer = _spawn(_LOOP_WRITER, [db_url, artifacts, str(round_ * 10_000), str(BATCH)], log)
        try:
            _read_lines(writer, 2, log)
            time.sleep(random.uniform(0, 0.08))  # land anywhere inside an iteration
        finally:
            _kill(writer)

        _check_sqlite_file(db_path)
        ws = LocalWorkspace(db_url, artifacts)
        try:
            interrupted = _check_runs_are_whole(ws)
            assert len(interrupted) <= 1  # only the run the writer was busy with
            runs = ws.list_runs("crash", limit=100_000)
            assert len(runs) >= seen + 2
            # the same process can go on writing: close the interrupted run, start another
            for run_id in interrupted:
                ws.end_run(run_id, "killed", "writer was SIGKILLed")
            i = round_ * 10_000 + 9_999
            run = ws.create_run("crash", f"run-{i}", tags={"iteration": str(i)})
            ws.log_params(run.id, {"a": i, "b": 2 * i, "c": "x" * 200})
            ws.log_metrics([(run.id, "loss", s, 0.0, 1.0) for s in range(2 * BATCH)])
            ws.end_run(run.id, "finished")
            seen = len(ws.list_runs("crash", limit=100_000))
            assert _check_runs_are_whole(ws) == []
        finally:
            ws.close()
    _check_sqlite_file(db_path)


# (b) an artifact write killed mid-write --------------------------------------------------------
def _big_file(path: Path, megabytes: int, seed: int) -> str:
    block = random.Random(seed).randbytes(1 << 20)
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for i in range(megabytes):
            chunk = i.to_bytes(8, "big") + block[8:]  # every megabyte differs
            out.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def _kill_while_temp_file_grows(
    writer: subprocess.Popen[bytes], tmp_dir: Path, total: int, log: Path
) -> bool:
    """SIGKILL the writer as soon as its temp file shows; True if it was caught half-way."""
    _read_lines(writer, 1, log)  # "start"
    deadline = time.monotonic() + 20
    partial = False
    try:
        while time.monotonic() < deadline and writer.poll() is None:
            sizes = [p.stat().st_size for p in tmp_dir.iterdir() if p.is_file()]
            if sizes and 0 < max(sizes) < total // 2:
                partial = True
                break
            if sizes and max(sizes) >= total // 2:
                break  # too late to call it half-way; kill anyway
            time.sleep(0.0005)
    except FileNotFoundError:  # the temp file was renamed while we looked
        pass
    finally:
        if writer.poll() is None:
            _kill(writer)
        else:
            writer.wait()
    return partial


def test_artifact_write_killed_mid_write_is_absent_or_whole(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = LocalArtifactStore(root)
    old = b"the previous version\n" * 1000
    store.put("models/overwritten.bin", old)
    source = tmp_path / "big.bin"
    megabytes = 48
    new_sha = _big_file(source, megabytes, seed=1)
    total = megabytes << 20
    log = tmp_path / "put.log"

    caught_half_way = 0
    for key in ("models/overwritten.bin", "models/new.bin", "models/new.bin"):
        writer = _spawn(_PUT_FILE, [str(root), key, str(source)], log)
        partial = _kill_while_temp_file_grows(writer, root / ".tmp", total, log)
        caught_half_way += partial

        # the key holds the old object, the whole new one, or nothing: never a partial object
        shas = {o.key: o.sha256 for o in store.list()}
        if key == "models/overwritten.bin":
            assert shas[key] in (hashlib.sha256(old).hexdigest(), new_sha)
            if partial:
                assert store.get(key) == old
        elif key in shas:
            assert shas[key] == new_sha and not partial
        else:
            assert not store.exists(key)
        assert set(shas) <= {"models/overwritten.bin", "models/new.bin"}  # temp files unlisted
    assert caught_half_way >= 1, "never caught a write half-way; make the file bigger"

    # the store still works after the crashes, and a completed write has the right sha256
    info = store.put_file("models/new.bin", source)
    assert info.sha256 == new_sha == store.sha256("models/new.bin")
    assert info.size == total


# (c, d) several processes writing at once ------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    url: str = request.getfixturevalue("postgres_db_url")
    return url


def test_concurrent_writers_all_succeed(shared_db_url: str, tmp_path: Path) -> None:
    workers, runs, batches, batch = 4, 5, 4, 250
    go = tmp_path / "go"
    logs = [tmp_path / f"worker{w}.log" for w in range(workers)]
    args = [str(runs), str(batches), str(batch)]
    procs = [
        _spawn(
            _CONCURRENT_WRITER,
            [shared_db_url, str(tmp_path / "artifacts"), str(go), str(w), *args],
            logs[w],
        )
        for w in range(workers)
    ]
    try:
        for proc, log in zip(procs, logs, strict=True):
            _read_lines(proc, 1, log)  # imported and waiting
        go.touch()  # all start writing at once
        codes = [_finish(proc) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                _kill(proc)
    errors = "\n".join(log.read_text() for log in logs)
    assert codes == [0] * workers, errors
    assert "database is locked" not in errors

    ws = LocalWorkspace(shared_db_url, str(tmp_path / "artifacts"))
    try:
        assert [p.name for p in ws.list_projects()] == ["shared"]
        all_runs = ws.list_runs("shared", limit=1000)
        assert len(all_runs) == workers * runs
        assert {r.name for r in all_runs} == {
            f"w{w}-r{r}" for w in range(workers) for r in range(runs)
        }
        for run in all_runs:
            worker = run.name[1 : run.name.index("-")]
            assert run.status == "finished"
            assert run.tags == {"worker": worker, "batch": "29"}
            assert sorted(i["version"] for i in run.inputs) == [str(b) for b in range(batches)]
            assert run.params == {"worker": int(worker), "r": int(run.name.rsplit("r", 1)[1])}
            assert ws.last_steps(run.id) == {"loss": batches * batch - 1}
        with ws.meta.read() as conn:
            counts = {
                table: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar()
                for table in ("projects", "runs", "params", "tags", "metrics", "run_inputs")
            }
        assert counts == {
            "projects": 1,
            "runs": workers * runs,
            "params": workers * runs * 2,
            "tags": workers * runs * 2,
            "metrics": workers * runs * batches * batch,
            "run_inputs": workers * runs * batches,
        }, json.dumps(counts)
    finally:
        ws.close()
