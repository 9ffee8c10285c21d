"""Running an inference server: ``lepton serve`` in the foreground, or one replica of a deployment.

A replica reads what to serve from environment variables (set by the control plane), so
uvicorn's multi-worker mode and the control plane start it the same way:
``LEPTON_SERVE_BUNDLE`` (a bundle path), ``LEPTON_SERVE_NAME``, ``LEPTON_SERVE_VERSION``,
``LEPTON_SERVE_KEY_HASH`` (absent: public), ``LEPTON_SERVE_INTERNAL_HASH`` and
``LEPTON_SERVE_OPTIONS`` (JSON of ServerOptions).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from lepton.errors import InvalidParameterError
from lepton.serving._app import InferenceApp, ServerOptions

_ENV = "LEPTON_SERVE_"


def resolve_bundle(model_ref: str, folder: Path) -> tuple[Path, str, int | str | None]:
    """A local bundle path, the served name and version for a path or a registry reference."""
    path = Path(model_ref)
    if path.exists():
        return path, path.stem.removesuffix(".lepton"), None
    from lepton.registry import get_version
    from lepton.workspace import get_workspace

    version = get_version(model_ref)
    bundle = get_workspace().download_model_bundle(
        version.name, version.version, folder / "model.lepton"
    )
    return bundle, version.name, version.version


def app_from_env() -> InferenceApp:
    """Build the app described by LEPTON_SERVE_* (uvicorn calls this in each worker)."""
    from lepton.models._bundle import load_bundle

    started = time.perf_counter()
    model = load_bundle(os.environ[_ENV + "BUNDLE"])
    version: int | str | None = os.environ.get(_ENV + "VERSION") or None
    if isinstance(version, str) and version.isdigit():
        version = int(version)
    options = ServerOptions(**json.loads(os.environ.get(_ENV + "OPTIONS", "{}")))
    return InferenceApp(
        model,
        name=os.environ.get(_ENV + "NAME", model.name),
        version=version,
        key_hash=os.environ.get(_ENV + "KEY_HASH") or None,
        internal_token_hash=os.environ.get(_ENV + "INTERNAL_HASH") or None,
        options=options,
        load_seconds=time.perf_counter() - started,
    )


def serve_env(
    bundle: Path,
    name: str,
    version: int | str | None,
    key_hash: str | None,
    options: ServerOptions,
    internal_hash: str | None = None,
) -> dict[str, str]:
    env = {
        _ENV + "BUNDLE": str(bundle),
        _ENV + "NAME": name,
        _ENV + "VERSION": "" if version is None else str(version),
        _ENV + "OPTIONS": json.dumps(dataclasses.asdict(options)),
    }
    if key_hash:
        env[_ENV + "KEY_HASH"] = key_hash
    if internal_hash:
        env[_ENV + "INTERNAL_HASH"] = internal_hash
    return env


def check_bind(host: str, public_ok: bool = False) -> None:
    """Refuse a non-loopback bind unless asked for explicitly."""
    if host not in ("127.0.0.1", "localhost", "::1") and not public_ok:
        raise InvalidParameterError(
            f"Binding to {host!r} exposes the server beyond this machine. Pass --host {host} together "
            "with --expose (and keep API keys on) if that is what you want."
        )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def run(
    app: Any,
    host: str,
    port: int,
    workers: int = 1,
    log_level: str = "warning",
    factory: bool = False,
) -> None:
    """Run uvicorn; on SIGTERM/SIGINT, new requests get 503 while in-flight ones finish."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        loop="uvloop",
        http="httptools",
        factory=factory,
        timeout_graceful_shutdown=30,
        server_header=False,
    )
    if workers > 1:  # uvicorn's supervisor; each worker stops gracefully on its own
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    _GracefulServer(config).run()


class _GracefulServer:
    """uvicorn's Server, telling the app it is shutting down before it stops accepting."""

    def __init__(self, config: Any) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                app = getattr(self.config, "loaded_app", None)
                target = _unwrap(app)
                if target is not None:
                    target.shutting_down = True
                super().handle_exit(sig, frame)

        self.server = Server(config)

    def run(self) -> None:
        self.server.run()


def _unwrap(app: Any) -> InferenceApp | None:
    for _ in range(5):
        if isinstance(app, InferenceApp):
            return app
        app = getattr(app, "app", None)
    return None


def serve(
    model_ref: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    public: bool = False,
    expose: bool = False,
    options: ServerOptions | None = None,
    announce: Any = print,
) -> None:
    """Serve a bundle path or registered model in the foreground (``lepton serve``).

    Without ``public`` a fresh API key is printed once and required as ``Authorization:
    Bearer``; only its hash stays in memory.
    """
    from lepton.security import generate_key, hash_key

    check_bind(host, expose)
    if not isinstance(workers, int) or workers < 1:
        raise InvalidParameterError(f"workers must be a positive int, got {workers!r}.")
    options = options or ServerOptions()
    with tempfile.TemporaryDirectory(prefix="lepton-serve-") as tmp:
        bundle, name, version = resolve_bundle(model_ref, Path(tmp))
        key = None if public else generate_key()
        os.environ.update(serve_env(bundle, name, version, hash_key(key) if key else None, options))
        announce(
            f"Serving {name}"
            + (f":{version}" if version is not None else "")
            + f" at http://{host}:{port}  (docs: http://{host}:{port}/docs)"
        )
        if key:
            announce(f"API key (shown once): {key}\nSend it as: Authorization: Bearer <key>")
        else:
            announce("Public: no API key required (--public).")
        run("lepton.serving._server:app_from_env", host, port, workers=workers, factory=True)
