"""Several processes register versions of the same model at once: every registration succeeds
and the versions are exactly 1..N, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import lepton
from lepton import registry
from lepton.testing import tiny_table
from lepton.workspace import current_settings, get_workspace, reset

PROCESSES = 3
EACH = 4

# A worker process takes jobs (one JSON line each) from stdin. For each: switch to the job's
# workspace, load the model, say it is ready, wait for the start signal so that every worker
# registers at the same moment, register EACH times and print the versions it got. The workers
# live for the whole module, so the seconds that the first model load costs (scikit-learn and
# skops imports) are paid once, not once per database.
WORKER = """
import json, os, sys, time, traceback
from pathlib import Path

import lepton
from lepton.workspace import get_workspace, reset

for line in sys.stdin:
    job = json.loads(line)
    try:
        for key in [k for k in os.environ if k.startswith("LEPTON_")]:
            del os.environ[key]
        os.environ.update(job["env"])
        reset()
        model = lepton.load_model(job["bundle"])
        get_workspace()
        Path(job["ready"]).touch()
        go = Path(job["go"])
        while not go.exists():
            time.sleep(0.002)
        versions = [lepton.register(model, "shared").version for _ in range(job["count"])]
        print(json.dumps({"versions": versions}), flush=True)
    except Exception:
        print(json.dumps({"error": traceback.format_exc()}), flush=True)
"""


@pytest.fixture(scope="module")
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    pool = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    yield pool
    for process in pool:
        assert process.stdin is not None
        process.stdin.close()
    for process in pool:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "postgres":
        monkeypatch.setenv("LEPTON_DB_URL", request.getfixturevalue("postgres_db_url"))
    reset()
    return str(request.param)


@pytest.mark.slow
def test_concurrent_registrations_get_distinct_gapless_versions(
    db: str, workers: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    model = lepton.create_model("logistic_regression").fit(tiny_table(rows=60))
    bundle = lepton.save_model(model, tmp_path / "model.lepton")
    get_workspace()  # create and migrate the database before the workers open it
    reset()
    env = {"LEPTON_HOME": str(current_settings().home)}
    if "LEPTON_DB_URL" in os.environ:
        env["LEPTON_DB_URL"] = os.environ["LEPTON_DB_URL"]

    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(PROCESSES)]
    for process, flag in zip(workers, ready, strict=True):
        job = {"env": env, "bundle": str(bundle), "ready": str(flag), "go": str(go), "count": EACH}
        assert process.stdin is not None
        process.stdin.write(json.dumps(job) + "\n")
        process.stdin.flush()
    deadline = time.monotonic() + 300
    while not all(flag.exists() for flag in ready):
        assert time.monotonic() < deadline, "the workers did not get ready"
        assert all(p.poll() is None for p in workers), [p.communicate() for p in workers]
        time.sleep(0.01)
    go.touch()

    got: list[int] = []
    for process in workers:
        assert process.stdout is not None
        answer = json.loads(process.stdout.readline() or '{"error": "worker died"}')
        assert "error" not in answer, answer["error"]
        versions = answer["versions"]
        assert versions == sorted(versions)  # each process sees its own versions increase
        got += versions

    total = PROCESSES * EACH
    assert sorted(got) == list(range(1, total + 1))  # no gaps, no duplicates
    assert [v.version for v in registry.list_versions("shared")] == list(range(1, total + 1))
    assert registry.list_models()[0]["latest"] == total
    for version in registry.list_versions("shared"):  # every row points at a real bundle
        assert registry.verify(version.ref)["ok"]
