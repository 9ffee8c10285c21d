"""The credentials file written by ``lepton login`` (and by the first ``lepton server start``):
which server the SDK and CLI talk to, with which key. Readable only by its owner (0600).

Location: ``LEPTON_CREDENTIALS`` if set, else ``~/.lepton/credentials.json``. It holds one
token per server URL and the URL in use::

    {"current": "http://127.0.0.1:8400", "servers": {"http://127.0.0.1:8400": {"token": "lp_..."}}}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lepton.errors import ConfigError


def credentials_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ if env is None else env)
    if env.get("LEPTON_CREDENTIALS"):
        return Path(env["LEPTON_CREDENTIALS"]).expanduser()
    return Path(env.get("HOME") or Path.home()) / ".lepton" / "credentials.json"


def read_credentials(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"The credentials file {path} cannot be read ({exc}). Delete it and run "
            "`lepton login URL` again."
        ) from exc
    return data if isinstance(data, dict) else {}


def current_server(env: dict[str, str] | None = None) -> tuple[str | None, str | None]:
    """The (url, token) of the last ``lepton login``, or (None, None)."""
    data = read_credentials(credentials_path(env))
    url = data.get("current")
    if not isinstance(url, str) or not url:
        return None, None
    entry = data.get("servers", {}).get(url, {})
    return url, entry.get("token") if isinstance(entry, dict) else None


def token_for(url: str, env: dict[str, str] | None = None) -> str | None:
    entry = read_credentials(credentials_path(env)).get("servers", {}).get(url.rstrip("/"), {})
    return entry.get("token") if isinstance(entry, dict) else None


def save_login(url: str, token: str | None, path: Path | None = None) -> Path:
    """Record ``url`` (and its token) as the server in use; the file is created 0600."""
    from lepton._fs import atomic_write_bytes

    path = path or credentials_path()
    data = read_credentials(path)
    url = url.rstrip("/")
    servers = data.setdefault("servers", {})
    servers[url] = {"token": token} if token else servers.get(url, {})
    data["current"] = url
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_bytes(path, json.dumps(data, indent=2).encode("utf-8"), mode=0o600)
    return path


def forget_login(path: Path | None = None) -> bool:
    """Stop using a server: the SDK goes back to the embedded store. Returns whether one was set."""
    from lepton._fs import atomic_write_bytes

    path = path or credentials_path()
    data = read_credentials(path)
    if not data.get("current"):
        return False
    data["current"] = None
    atomic_write_bytes(path, json.dumps(data, indent=2).encode("utf-8"), mode=0o600)
    return True
