"""A real team server for tests: ``lepton.server.create_app`` under uvicorn on a free
127.0.0.1 port, in a thread of the test process, over its own fresh store.

Fixtures (exported by tests/conftest.py):
- ``server``: a running server; ``.url``, ``.admin_token``, ``.home``, ``.state`` and
  ``.make_token(role, project)`` (a token of a new user with that role).
- ``start_server``: a factory, ``start_server(db_url=None, **ServerOptions fields)``, for other
  options (``db_url``: e.g. a PostgreSQL database instead of SQLite in the home folder).
- ``remote``: ``server``, with the SDK and CLI of this process pointed at it (LEPTON_URL and
  LEPTON_TOKEN set to the admin's key).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    admin_token: str
    home: Path
    state: Any
    _uvicorn: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _socket: socket.socket | None = field(default=None, repr=False)

    def make_token(self, role: str | None, project: str = "*", name: str | None = None) -> str:
        """A key of a new user holding ``role`` in ``project`` (None: no role at all)."""
        user = name or f"user-{uuid.uuid4().hex[:8]}"
        self.state.security.create_user(user, role=role, project=project)
        _, key = self.state.security.create_key(user, "test")
        return key

    def stop(self) -> None:
        self._uvicorn.should_exit = True
        self._thread.join(timeout=60)
        if self._socket is not None:
            self._socket.close()


def launch(home: Path, db_url: str | None = None, **options: Any) -> LiveServer:
    """A server over ``home`` (and the metadata database ``db_url``, default SQLite in home)."""
    import uvicorn

    from lepton.config import load_settings
    from lepton.server import ServerOptions, create_app

    env = {"LEPTON_HOME": str(home), "LEPTON_URL": ""}
    if db_url:
        env["LEPTON_DB_URL"] = db_url
    settings = load_settings(env=env)
    options.setdefault("scheduler", False)
    # the socket is bound here and handed to uvicorn: a port picked, released and bound again
    # later could be taken in between by a server of another pytest-xdist worker
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    try:
        app = create_app(settings, ServerOptions(port=port, **options))
        state = app.state.lepton
        token = state.security.bootstrap()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="lepton-test-server", daemon=True
        )
        thread.start()
        deadline = time.time() + 30
        while not server.started:
            if not thread.is_alive() or time.time() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
    except BaseException:
        sock.close()
        raise
    return LiveServer(f"http://127.0.0.1:{port}", token, home, state, server, thread, sock)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def start(**options: Any) -> LiveServer:
        live = launch(tmp_path / f"server-home-{len(started)}", **options)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server()


@pytest.fixture
def remote(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    from lepton.workspace import reset

    monkeypatch.setenv("LEPTON_URL", server.url)
    monkeypatch.setenv("LEPTON_TOKEN", server.admin_token)
    reset()
    yield server
    reset()


@contextlib.contextmanager
def sdk_using(live: LiveServer, home: Path) -> Iterator[pytest.MonkeyPatch]:
    """The SDK and CLI of this process pointed at ``live`` as its admin, with ``home`` as the
    client's LEPTON_HOME and no saved login, for module-scoped fixtures; every LEPTON_*
    variable is restored afterwards. Yields the MonkeyPatch, for more settings."""
    from lepton.workspace import reset

    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("LEPTON_")]:
            patch.delenv(name)
        patch.setenv("LEPTON_HOME", str(home))
        patch.setenv("LEPTON_CREDENTIALS", str(home.parent / "no-credentials.json"))
        patch.setenv("LEPTON_URL", live.url)
        patch.setenv("LEPTON_TOKEN", live.admin_token)
        reset()
        try:
            yield patch
        finally:
            reset()
