"""``lepton server start``: check the bind address, turn encryption at rest on, create the
first admin key, and run the server under uvicorn until Ctrl-C."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from lepton.config import Settings, load_settings
from lepton.errors import ConfigError
from lepton.server._app import ServerOptions


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(options: ServerOptions) -> str | None:
    """Refuse a network-facing bind without TLS unless ``insecure``; return a warning if any."""
    if bool(options.tls_cert) != bool(options.tls_key):
        raise ConfigError(
            "TLS needs both --tls-cert and --tls-key (PEM files); only one was given."
        )
    for path in (options.tls_cert, options.tls_key):
        if path and not Path(path).is_file():
            raise ConfigError(f"TLS file {path} does not exist.")
    if is_loopback(options.host) or options.tls_cert:
        return None
    if not options.insecure:
        raise ConfigError(
            f"Binding to {options.host} without TLS would send API keys in clear text over the "
            "network. Give --tls-cert and --tls-key, or pass --insecure if a proxy in front of "
            "the server terminates TLS."
        )
    return (
        f"WARNING: serving on {options.host} without TLS (--insecure): API keys and data cross "
        "the network unencrypted. Put a TLS-terminating proxy in front of this server."
    )


def server_settings(
    home: str | None = None, db_url: str | None = None, artifacts_url: str | None = None
) -> Settings:
    """The store the server runs on: the local settings, never a remote URL."""
    settings = load_settings(env={**os.environ, "LEPTON_URL": ""})
    if home:
        settings = settings.with_home(Path(home))
    return replace(
        settings,
        db_url=db_url or settings.db_url,
        artifacts_url=artifacts_url or settings.artifacts_url,
        url=None,
        token=None,
    )


def local_url(options: ServerOptions) -> str:
    scheme = "https" if options.tls_cert else "http"
    host = "127.0.0.1" if options.host in ("0.0.0.0", "::", "") else options.host
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{options.port}"


def run_server(
    settings: Settings, options: ServerOptions, announce: Callable[[str], Any] = print
) -> None:
    """Run the team server in the foreground until SIGINT/SIGTERM."""
    import uvicorn

    from lepton._credentials import save_login
    from lepton.security._crypto import create_master_key_file, load_master_key
    from lepton.server._app import create_app

    warning = check_binding(options)
    settings.home.mkdir(parents=True, exist_ok=True)
    if load_master_key(settings.home) is None:
        key = create_master_key_file(settings.home / "master.key")
        announce(
            f"Encryption at rest is on: created the master key {key.source} (fingerprint "
            f"{key.id}, mode 0600). Back it "
            "up; without it the stored datasets, artifacts, models and secrets cannot be read."
        )
    app = create_app(settings, options)
    url = local_url(options)
    admin_key = app.state.lepton.security.bootstrap()
    if admin_key:
        saved = save_login(url, admin_key)
        announce(
            f"Created the first admin user 'admin'. Its API key, shown only this once:\n\n"
            f"    {admin_key}\n\n"
            f"It is saved in {saved} (mode 0600), so the SDK and CLI on this machine use "
            "this server now. Create keys for your team with `lepton users create` and "
            "`lepton tokens create --user NAME`."
        )
    if warning:
        announce(warning)
    announce(
        f"Lepton server at {url} (store: {_redact(settings.db_url)}, artifacts: "
        f"{settings.artifacts_url}). API docs: {url}/api/docs. Ctrl-C stops it."
    )
    uvicorn.run(
        app,
        host=options.host,
        port=options.port,
        ssl_certfile=options.tls_cert,
        ssl_keyfile=options.tls_key,
        log_level="info",
        server_header=False,
    )


def _redact(db_url: str) -> str:
    """A database URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:
        return "<database>"
