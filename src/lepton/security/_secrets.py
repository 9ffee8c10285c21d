"""Secrets: named values of a project (API tokens, passwords) that deployments and jobs get as
environment variables. Stored AES-256-GCM encrypted with the master key; their values are
never listed, returned over the API, logged or audited — only injected into the processes
that need them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lepton._validation import check_name
from lepton.errors import ConfigError, InvalidParameterError, SecretNotFoundError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")  # usable as an environment variable
_RESERVED = "LEPTON_"  # Lepton's own settings (the master key, the serving options...)
MAX_VALUE_BYTES = 64 * 1024

__all__ = ["SecretInfo", "SecretNotFoundError", "SecretStore"]

_Rows = list[dict[str, Any]]  # aliases: inside SecretStore, ``list`` is the method
_Names = list[str]


@dataclass(frozen=True)
class SecretInfo:
    """A secret as anyone may see it: its name and times, never its value."""

    project: str
    name: str
    created_at: float
    updated_at: float


def secret_context(project: str, name: str) -> bytes:
    """The additional data a secret's ciphertext is bound to: a value copied to another name
    or project fails to decrypt."""
    return f"{project}/{name}".encode()


def check_secret_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidParameterError(
            f"Invalid secret name {name!r}: a secret becomes an environment variable, so use "
            "1-128 letters, digits or '_', not starting with a digit (for example 'DB_PASSWORD')."
        )
    if name.upper().startswith(_RESERVED):
        raise InvalidParameterError(
            f"Invalid secret name {name!r}: names starting with {_RESERVED} are reserved for "
            "Lepton's own settings. Pick another name, e.g. without the prefix."
        )
    return name


def _check_value(value: object) -> bytes:
    # messages never show the value: it is the secret
    if not isinstance(value, str):
        raise InvalidParameterError(f"A secret value must be a string, got {type(value).__name__}.")
    if "\x00" in value:
        raise InvalidParameterError(
            "A secret value cannot contain a NUL character (environment variables cannot hold "
            "one). Encode binary values, e.g. as base64."
        )
    raw = value.encode("utf-8")
    if len(raw) > MAX_VALUE_BYTES:
        raise InvalidParameterError(
            f"A secret value is at most {MAX_VALUE_BYTES:,} bytes, got {len(raw):,}. Store large "
            "credentials (key files) as a dataset or artifact and put their location in a secret."
        )
    return raw


class SecretStore:
    """Set, list, delete and read the secrets of projects.

    Args:
        meta: the metadata store holding the ``secrets`` table.
        master_key: the key that encrypts the values; listing and deleting work without it,
            setting and reading raise :class:`ConfigError`.
    """

    def __init__(self, meta: Any, master_key: Any) -> None:
        self.meta = meta
        self.master_key = master_key

    def _key(self) -> Any:
        if self.master_key is None:
            raise ConfigError(
                "Secrets are stored encrypted, and no master key is configured. Create one with "
                "`lepton keys generate --output <home>/master.key` (or set LEPTON_MASTER_KEY / "
                "LEPTON_MASTER_KEY_FILE) and restart the server; `lepton server start` creates "
                "one on its first start."
            )
        return self.master_key

    def set(self, project: str, name: str, value: str) -> SecretInfo:
        """Create or replace the secret ``name`` of ``project``."""
        from sqlalchemy import insert, select, update

        from lepton.store._schema import secrets

        check_name("project", project)
        check_secret_name(name)
        key = self._key()
        ciphertext = key.wrap(_check_value(value), secret_context(project, name))
        now = time.time()
        where = (secrets.c.project == project, secrets.c.name == name)
        with self.meta.write() as conn:
            found = conn.execute(select(secrets.c.created_at).where(*where)).first()
            values = {"ciphertext": ciphertext, "master_key_id": key.id, "updated_at": now}
            if found is None:
                conn.execute(
                    insert(secrets).values(project=project, name=name, created_at=now, **values)
                )
                created = now
            else:
                conn.execute(update(secrets).where(*where).values(**values))
                created = found.created_at
        return SecretInfo(project, name, created, now)

    def list(self, project: str) -> list[SecretInfo]:
        """The secrets of ``project`` by name (no values)."""
        check_name("project", project)
        return [
            SecretInfo(r["project"], r["name"], r["created_at"], r["updated_at"])
            for r in self._rows(project)
        ]

    def _rows(self, project: str) -> _Rows:
        from sqlalchemy import select

        from lepton.store._schema import secrets

        query = select(secrets).where(secrets.c.project == project).order_by(secrets.c.name)
        with self.meta.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def delete(self, project: str, name: str) -> None:
        """Delete a secret. Raises SecretNotFoundError when there is none of that name."""
        from sqlalchemy import delete

        from lepton.store._schema import secrets

        check_name("project", project)
        check_secret_name(name)
        with self.meta.write() as conn:
            deleted = conn.execute(
                delete(secrets).where(secrets.c.project == project, secrets.c.name == name)
            ).rowcount
        if not deleted:
            raise self._unknown(project, [name])

    def values(self, project: str, names: Iterable[str]) -> dict[str, str]:
        """The plaintext values of ``names`` in ``project``, for injecting into a process.

        Raises:
            SecretNotFoundError: a name has no secret (all missing names are listed).
            ConfigError: no master key, or a value is encrypted under another master key.
        """
        check_name("project", project)
        wanted = [check_secret_name(n) for n in names]
        if not wanted:
            return {}
        key = self._key()
        rows = {r["name"]: r for r in self._rows(project)}
        missing = [n for n in wanted if n not in rows]
        if missing:
            raise self._unknown(project, missing)
        found = {}
        for name in wanted:
            row = rows[name]
            what = f"Secret {name!r} of project {project!r}"
            if row["master_key_id"] != key.id:
                from lepton.security._crypto import _wrong_key

                raise _wrong_key(what, row["master_key_id"], key)
            context = secret_context(project, name)
            plain = key.unwrap(
                bytes(row["ciphertext"]),
                context,
                f"The value of secret {name!r} of project {project!r}",
            )
            found[name] = plain.decode()
        return found

    def _unknown(self, project: str, missing: _Names) -> SecretNotFoundError:
        existing = [r["name"] for r in self._rows(project)]
        also = f" Also missing: {', '.join(missing[1:])}." if len(missing) > 1 else ""
        return SecretNotFoundError(
            missing[0],
            existing,
            hint=f"(project {project!r}).{also} Set one with "
            f"`lepton secrets set {missing[0]} --project {project}`.",
        )


def workspace_master_key(workspace: Any) -> Any:
    """The master key an embedded workspace encrypts with, or None when encryption is off."""
    from lepton.security._crypto import EncryptedArtifactStore

    artifacts = getattr(workspace, "artifacts", None)
    return artifacts.master_key if isinstance(artifacts, EncryptedArtifactStore) else None


def deployment_secret_env(workspace: Any, name: str) -> dict[str, str]:
    """The environment variables a replica of deployment ``name`` gets from its secrets."""
    from lepton.store._schema import deployments, projects

    meta = getattr(workspace, "meta", None)
    if meta is None:  # not an embedded workspace: there is no secret store here
        return {}
    rows = meta.rows(deployments, name=name)
    names = rows[0].get("secrets") if rows else None
    if not names:
        return {}
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidParameterError(
            f"Deployment {name!r} has invalid secrets {names!r}: expected a list of secret "
            "names. Deploy it again with secrets=['NAME', ...]."
        )
    project = meta.rows(projects, id=rows[0]["project_id"])[0]["name"]
    return SecretStore(meta, workspace_master_key(workspace)).values(project, names)
