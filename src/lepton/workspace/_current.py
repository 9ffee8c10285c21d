"""Which workspace this process talks to, resolved from the settings and cached.

``lepton.create_project`` activates the new project (as if the process ran inside its folder);
``lepton.connect`` / ``LEPTON_URL`` / ``lepton login`` swap in a ``RemoteWorkspace`` that speaks
the team server's REST API.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from lepton.config import Settings, load_settings
from lepton.workspace._base import Workspace

if TYPE_CHECKING:
    from lepton.security._crypto import MasterKey

_lock = threading.Lock()
_cache: dict[tuple[object, ...], Workspace] = {}
_active_root: Path | None = None
_connected: tuple[str, str | None] | None = None  # lepton.connect(url, token)


def activate_project(root: Path | None) -> None:
    """Resolve settings as if the process ran inside the project folder ``root``."""
    global _active_root
    _active_root = root


def connect(url: str | None, token: str | None = None) -> None:
    """Talk to the team server at ``url`` from now on (None: back to the embedded store)."""
    global _connected
    from lepton._validation import check_url

    _connected = (check_url(url).rstrip("/"), token) if url else None


def current_settings() -> Settings:
    settings = load_settings(cwd=_active_root)
    if _connected is not None:
        from dataclasses import replace

        from lepton._credentials import token_for

        url, token = _connected
        token = token or os.environ.get("LEPTON_TOKEN") or token_for(url)
        settings = replace(settings, url=url, token=token)
    return settings


def _cache_key(settings: Settings) -> tuple[object, ...]:
    return (settings.db_url, settings.artifacts_url, settings.url, settings.token, os.getpid())


def master_key_of(settings: Settings) -> MasterKey | None:
    """The master key that encrypts this store's objects at rest, if one is configured."""
    from lepton.security._crypto import load_master_key

    return load_master_key(settings.home)


def get_workspace(settings: Settings | None = None) -> Workspace:
    """The workspace for ``settings`` (default: this process's current settings), cached."""
    settings = settings or current_settings()
    key = _cache_key(settings)
    with _lock:
        workspace = _cache.get(key)
        if workspace is None:
            workspace = _open(settings)
            _cache[key] = workspace
        return workspace


def _open(settings: Settings) -> Workspace:
    if settings.url:
        from lepton.workspace._remote import RemoteWorkspace

        return RemoteWorkspace(settings.url, settings.token)
    from lepton.workspace._local import LocalWorkspace

    return LocalWorkspace(
        settings.db_url, settings.artifacts_url, str(settings.home), master_key_of(settings)
    )


def reset() -> None:
    """Forget cached workspaces and any activated project (used by tests and ``connect``)."""
    global _active_root, _connected
    with _lock:
        for workspace in _cache.values():
            workspace.close()
        _cache.clear()
        _active_root = None
        _connected = None
