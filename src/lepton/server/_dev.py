"""The platform server of a laptop: the same app as ``lepton server start`` (REST API,
dashboard, control plane of deployments) over the embedded store, on 127.0.0.1 only.

It runs in the foreground with ``lepton dev``, or in the background when ``lepton.deploy``
needs a control plane (the way ``ray.init()`` starts a local cluster). There is no key to
copy: the person at the keyboard owns the store, so ``lepton dashboard`` prints a one-time
sign-in link for the local admin. Where it listens is written to ``HOME/server.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from lepton.errors import LeptonError

DEFAULT_PORT = 8400
ADDRESS_FILE = "server.json"
LINK_TTL = 15 * 60.0  # seconds a printed sign-in link stays valid (it works once)


class DevServerError(LeptonError, RuntimeError):
    code = "dev_server"


def _bind(port: int | None) -> socket.socket:
    """A listening socket on 127.0.0.1: ``port``, else 8400, else any free port."""
    for candidate in [port] if port else [DEFAULT_PORT, 0]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", candidate))
        except OSError:
            sock.close()
            if port:
                raise DevServerError(
                    f"Port {port} on 127.0.0.1 is in use. Choose another with --port, or leave "
                    "it out to take a free one."
                ) from None
            continue
        sock.listen(128)
        sock.set_inheritable(True)
        return sock
    raise DevServerError("No free port on 127.0.0.1.")  # pragma: no cover - 0 always binds


def local_admin(security: Any) -> str:
    """The local admin's user name, created on first use (named after the OS user)."""
    from lepton._validation import check_name
    from lepton.errors import InvalidParameterError

    admins = [u.name for u in security.list_users() if u.roles.get("*") == "admin"]
    if admins:
        return str(admins[0])
    name = getpass.getuser()
    try:
        check_name("user", name)
    except InvalidParameterError:
        name = "admin"
    with contextlib.suppress(LeptonError):
        security.create_user(name, role="admin", project="*")
    return name


def address(home: Path) -> dict[str, Any] | None:
    """What ``HOME/server.json`` says (url, user, pid), or None when no dev server runs."""
    from lepton.deployments._daemon import running_pid

    try:
        found = json.loads((home / ADDRESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return found if running_pid(home) == found.get("pid") else None


def sign_in_link(home: Path, timeout: float = 30.0) -> str:
    """A one-time sign-in link to the dev server of ``home`` (waits for it to listen)."""
    from lepton.security import Security
    from lepton.workspace import get_workspace
    from lepton.workspace._local import LocalWorkspace

    deadline = time.time() + timeout
    while (found := address(home)) is None:
        if time.time() > deadline:
            raise DevServerError(f"No dashboard is running for {home}. Start it with `lepton dev`.")
        time.sleep(0.1)
    workspace = get_workspace()
    assert isinstance(workspace, LocalWorkspace), "the dev server serves the embedded store"
    code = Security(workspace.meta).create_signin_code(found["user"], ttl=LINK_TTL)
    return f"{found['url']}/login?code={code}"


def dashboard_link() -> str:
    """Where to open the dashboard of the current workspace: a one-time sign-in link to the
    local server (started in the background when none runs), or the team server's sign-in page."""
    from lepton.deployments._daemon import ensure_running
    from lepton.workspace import current_settings

    settings = current_settings()
    if settings.url:
        return f"{settings.url.rstrip('/')}/login"
    ensure_running()
    return sign_in_link(settings.home)


def run_dev(port: int | None = None, announce: Any = print, show_link: bool = True) -> None:
    """Serve the API, the dashboard and the control plane of the current (local) workspace
    until SIGINT/SIGTERM; the deployments' replicas stop with it. ``show_link``: print a
    sign-in link (not in the background, whose output goes to a log file)."""
    import uvicorn

    from lepton.deployments._daemon import ControlPlaneError, running_pid
    from lepton.server._app import ServerOptions, create_app
    from lepton.workspace import current_settings

    settings = current_settings()
    if settings.url:
        raise DevServerError(
            f"This workspace is the team server {settings.url}; its dashboard is at "
            f"{settings.url}/. `lepton dev` runs a local one: unset LEPTON_URL or "
            "`lepton logout` first."
        )
    pid = running_pid(settings.home)
    if pid:
        raise ControlPlaneError(
            f"A control plane is already running for {settings.home} (pid {pid}). "
            "Open its dashboard with `lepton dashboard`, or stop it with `lepton dev --stop`."
        )
    sock = _bind(port)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(settings, ServerOptions(port=sock.getsockname()[1], scheduler=False))
    user = local_admin(app.state.lepton.security)
    announce(
        f"Lepton dev server for {settings.home} (pid {os.getpid()}): API, dashboard and the "
        f"control plane of deployments, at {url}. Ctrl-C stops it."
    )
    if show_link:
        code = app.state.lepton.security.create_signin_code(user, ttl=LINK_TTL)
        announce(
            f"Dashboard: {url}/login?code={code}\n"
            "(the link signs you in once within 15 minutes; `lepton dashboard` prints a new one)"
        )
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", server_header=False, lifespan="on")
    )
    record = settings.home / ADDRESS_FILE

    async def serve() -> None:
        running = asyncio.create_task(server.serve(sockets=[sock]))
        while not (server.started or running.done()):
            await asyncio.sleep(0.05)
        if server.started:  # the control plane's lock is ours: say where we listen
            temporary = record.with_suffix(".tmp")
            temporary.write_text(json.dumps({"url": url, "user": user, "pid": os.getpid()}))
            os.replace(temporary, record)  # readers never see half a file
        await running

    # uvicorn handles SIGTERM (a graceful stop) and then raises it again for the handler that
    # was there before: let that one return, so the cleanup below runs
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        asyncio.run(serve())
    finally:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(record.read_text()).get("pid") == os.getpid():
                record.unlink()
        sock.close()


if __name__ == "__main__":  # the background server that lepton.deploy starts
    run_dev(show_link=False)  # its output goes to a log file: no sign-in code there
