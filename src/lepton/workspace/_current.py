"""Which workspace this process talks to, resolved from the settings and cached.

``lepton.create_project`` activates the new project (as if the process ran inside its folder);
``lepton.connect`` (a later issue) swaps in a remote workspace the same way.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from lepton.config import Settings, load_settings
from lepton.workspace._base import Workspace

_lock = threading.Lock()
_cache: dict[tuple[object, ...], Workspace] = {}
_active_root: Path | None = None


def activate_project(root: Path | None) -> None:
    """Resolve settings as if the process ran inside the project folder ``root``."""
    global _active_root
    _active_root = root


def current_settings() -> Settings:
    return load_settings(cwd=_active_root)


def _cache_key(settings: Settings) -> tuple[object, ...]:
    return (settings.db_url, settings.artifacts_url, settings.url, os.getpid())


def get_workspace(settings: Settings | None = None) -> Workspace:
    """The workspace for ``settings`` (default: this process's current settings), cached."""
    settings = settings or current_settings()
    key = _cache_key(settings)
    with _lock:
        workspace = _cache.get(key)
        if workspace is None:
            from lepton.workspace._local import LocalWorkspace

            workspace = LocalWorkspace(settings.db_url, settings.artifacts_url, str(settings.home))
            _cache[key] = workspace
        return workspace


def reset() -> None:
    """Forget cached workspaces and any activated project (used by tests and ``connect``)."""
    global _active_root
    with _lock:
        for workspace in _cache.values():
            workspace.close()
        _cache.clear()
        _active_root = None
