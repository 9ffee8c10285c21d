"""Shared fixtures. Every test gets its own LEPTON_HOME and a fresh working directory, so no
test reads or writes the user's ~/.lepton or another test's data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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


# real PostgreSQL and S3 servers, started on demand (see tests/services.py)
from tests.services import (  # noqa: E402, F401
    postgres_db_url,
    postgres_server,
    postgres_url,
    s3_endpoint,
    s3_server,
    s3_url,
)

# a real team server in a thread of the test process (see tests/live_server.py)
from tests.live_server import remote, server, start_server  # noqa: E402, F401
