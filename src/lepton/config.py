"""Where Lepton keeps its data and how it is set up: environment variables and ``lepton.yaml``.

Precedence, highest first: an explicit activation in this process (``lepton.create_project``,
``lepton.connect``), environment variables (``LEPTON_*``), the nearest ``lepton.yaml`` found by
walking up from the current directory, then defaults. The home folder is ``LEPTON_HOME`` when
set, else the ``.lepton/`` folder of the project the current directory is in, else
``~/.lepton``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lepton.errors import ConfigError

__all__ = ["PROJECT_FILE", "Settings", "find_project_root", "load_settings", "read_project_file"]

PROJECT_FILE = "lepton.yaml"
BACKENDS = ("local", "ray")

# Settings a user may put in lepton.yaml, with the environment variable that overrides each.
_ENV_OF = {
    "db_url": "LEPTON_DB_URL",
    "artifacts_url": "LEPTON_ARTIFACTS",
    "backend": "LEPTON_BACKEND",
    "url": "LEPTON_URL",
    "token": "LEPTON_TOKEN",
    "project": "LEPTON_PROJECT",
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings of this process. Build with :func:`load_settings`."""

    home: Path
    db_url: str
    artifacts_url: str
    backend: str = "local"
    project: str = "default"
    project_root: Path | None = None
    url: str | None = None
    token: str | None = field(default=None, repr=False)  # a secret: never in a repr or a log
    extra: dict[str, Any] = field(default_factory=dict)

    def with_home(self, home: Path) -> Settings:
        """The same settings with another home folder (and the store inside it)."""
        home = home.expanduser().resolve()
        return replace(
            self, home=home, db_url=_default_db_url(home), artifacts_url=str(home / "artifacts")
        )


def find_project_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` that holds a ``lepton.yaml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def read_project_file(path: Path) -> dict[str, Any]:
    """Read a ``lepton.yaml`` into a dict, with a clear error when it is not valid YAML."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}. Fix the file or delete it.") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping of settings (key: value), got {type(data).__name__}."
        )
    return data


def _default_db_url(home: Path) -> str:
    return f"sqlite:///{home / 'lepton.db'}"


def _server(env: dict[str, str], file_settings: dict[str, Any]) -> tuple[str | None, str | None]:
    """Which team server to talk to: LEPTON_URL (set but empty: none, use the embedded store),
    else ``url`` in lepton.yaml, else the last ``lepton login``; the token likewise, else the
    one saved for that URL."""
    from lepton._credentials import current_server, token_for

    if "LEPTON_URL" in env:
        url = env["LEPTON_URL"].strip() or None
    else:
        url = file_settings.get("url") or None
    if url is None and "LEPTON_URL" not in env:
        url, saved = current_server(env)
    else:
        saved = token_for(url, env) if url else None
    token = env.get("LEPTON_TOKEN") or file_settings.get("token") or saved
    return (str(url).rstrip("/") if url else None), token


def load_settings(cwd: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Resolve the settings for ``cwd`` from the environment and the nearest ``lepton.yaml``."""
    env = dict(os.environ if env is None else env)
    root = find_project_root(cwd)
    file_settings = read_project_file(root / PROJECT_FILE) if root else {}

    def pick(key: str, default: Any = None) -> Any:
        return env.get(_ENV_OF[key]) or file_settings.get(key) or default

    if env.get("LEPTON_HOME"):
        home = Path(env["LEPTON_HOME"])
    elif root is not None:
        home = root / ".lepton"
    else:
        home = Path(env.get("HOME") or Path.home()) / ".lepton"
    home = home.expanduser().resolve()

    backend = str(pick("backend", "local"))
    if backend not in BACKENDS:
        raise ConfigError(
            f"Unknown backend {backend!r} (from LEPTON_BACKEND or lepton.yaml); "
            f"expected one of {', '.join(BACKENDS)}."
        )
    project = str(pick("project", root.name if root else "default"))
    url, token = _server(env, file_settings)
    # everything else in lepton.yaml (policies, serving, training...) is read by its own layer
    extra = {k: v for k, v in file_settings.items() if k not in _ENV_OF}
    return Settings(
        home=home,
        db_url=str(pick("db_url", _default_db_url(home))),
        artifacts_url=str(pick("artifacts_url", str(home / "artifacts"))),
        backend=backend,
        project=project,
        project_root=root,
        url=url,
        token=token,
        extra=extra,
    )
