"""Model references: ``"name"`` (latest), ``"name:3"`` (a version), ``"name@production"`` (an alias)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lepton.errors import InvalidParameterError

_REF = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,99})(?::(?P<version>\d+)|@(?P<alias>[A-Za-z0-9][A-Za-z0-9._-]{0,63}))?$"
)


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(ref: object) -> ModelRef:
    """Parse a model reference, or explain the three accepted forms."""
    match = _REF.match(ref) if isinstance(ref, str) else None
    if match is None:
        raise InvalidParameterError(
            f"Invalid model reference {ref!r}: use 'name' (latest version), 'name:3' (version 3) "
            "or 'name@production' (an alias); names use letters, digits, '.', '_' and '-'."
        )
    version = match.group("version")
    return ModelRef(match.group("name"), int(version) if version else None, match.group("alias"))


def looks_like_ref(value: str) -> bool:
    return bool(_REF.match(value))
