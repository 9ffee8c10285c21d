"""Shared fixtures. Every test gets its own LEPTON_HOME and a fresh working directory, so no
test reads or writes the user's ~/.lepton or another test's data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def lepton_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty LEPTON_HOME and cwd for each test; cached workspaces are dropped after it."""
    from lepton.workspace import reset

    home = tmp_path / "lepton-home"
    work = tmp_path / "work"
    work.mkdir()
    for name in list(os.environ):
        if name.startswith("LEPTON_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LEPTON_HOME", str(home))
    # never the user's own `lepton login`: a missing file means "no server"
    monkeypatch.setenv("LEPTON_CREDENTIALS", str(tmp_path / "credentials.json"))
    monkeypatch.chdir(work)
    reset()
    yield home
    from lepton.tracking._run import _active

    for run in list(_active):
        run.end()
    reset()


# The SDK and CLI suites run twice: on the embedded store, and against a live team server
# (RemoteWorkspace over HTTP), so both paths stay identical. A test that inspects the embedded
# store itself is marked ``local_only``.
SERVER_SUITES = (
    "tests/unit/workspace/test_projects.py",
    "tests/unit/tracking/test_run.py",
    "tests/unit/data/test_versions.py",
    "tests/unit/data/test_data_cli.py",
    "tests/unit/registry/test_registry.py",
    "tests/unit/governance/test_policies.py",
    "tests/unit/evaluation/test_report.py",
    "tests/unit/cli/test_cli.py",
    "tests/unit/cli/test_models_cli.py",
    "tests/unit/tuning/test_tune_team.py",
)
_ROOT = Path(__file__).resolve().parent.parent


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    path = Path(metafunc.definition.path).resolve().relative_to(_ROOT).as_posix()
    if path in SERVER_SUITES:
        metafunc.parametrize("workspace_kind", ["local", "server"], indirect=True)


@pytest.fixture(autouse=True)
def workspace_kind(
    request: pytest.FixtureRequest,
    lepton_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """``local`` (the embedded store) or ``server`` (a live team server, SDK pointed at it)."""
    kind = getattr(request, "param", "local")
    if kind != "server":
        yield kind
        return
    marker = request.node.get_closest_marker("local_only")
    if marker is not None:
        pytest.skip(marker.kwargs.get("reason") or "inspects the embedded store itself")
    from tests.live_server import launch

    from lepton.workspace import reset

    # a suite parametrised over databases (its ``db`` fixture sets LEPTON_DB_URL) runs the
    # server on that database
    if "db" in request.fixturenames:
        request.getfixturevalue("db")
    live = launch(tmp_path / "server-home", db_url=os.environ.get("LEPTON_DB_URL"))
    monkeypatch.setenv("LEPTON_URL", live.url)
    monkeypatch.setenv("LEPTON_TOKEN", live.admin_token)
    reset()
    try:
        yield kind
    finally:
        reset()
        live.stop()


# pytest-xdist (`make test` runs `pytest -n auto`): which tests share a worker -------------------
# A package whose fixtures are package-scoped (one Chromium and one seeded team server) runs whole
# on one worker, so it seeds once; the dashboard's files each seed their own server and run
# together too. Every other test file stays on one worker, so its module-scoped fixtures (trained
# models, replica processes) are made once. Each worker starts its own PostgreSQL and SeaweedFS
# on free ports in folders of its own (tests/services.py).
ONE_WORKER_PACKAGES = ("tests/browser", "tests/dashboard")


def xdist_scope(nodeid: str) -> str:
    """The unit of work that one worker runs whole: a package above, else the test's file."""
    path = nodeid.split("::", 1)[0]
    return next((p for p in ONE_WORKER_PACKAGES if path.startswith(p + "/")), path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """For ``-n N`` (``--dist load``, the default) and ``--dist loadgroup``: whole files and the
    packages above per worker; a test marked ``xdist_group`` still goes with its group."""
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None  # loadfile, loadscope, worksteal, each: as the user asked
    from xdist.scheduler import LoadGroupScheduling

    class FilesAndPackages(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            group = super()._split_scope(nodeid)  # the nodeid itself when it has no group
            return xdist_scope(nodeid) if group == nodeid else group

    return FilesAndPackages(config, log)


# real PostgreSQL and S3 servers, started on demand (see tests/services.py)
# a real team server in a thread of the test process (see tests/live_server.py)
from tests.live_server import remote, server, start_server  # noqa: E402, F401
from tests.services import (  # noqa: E402, F401
    postgres_db_url,
    postgres_server,
    postgres_url,
    s3_endpoint,
    s3_server,
    s3_url,
)
