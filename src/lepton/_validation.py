"""Checks shared by public entry points, with messages that say how to fix the input."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from lepton.errors import InvalidParameterError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_KEY = re.compile(r"^[A-Za-z0-9_\-./: ]{1,250}$")


def check_name(kind: str, value: object) -> str:
    """A name for a project, model, dataset or deployment: letters, digits, '.', '_', '-'."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidParameterError(
            f"Invalid {kind} name {value!r}: use 1-100 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit (for example 'credit-risk')."
        )
    return value


def check_key(kind: str, value: object) -> str:
    """A param, metric or tag key: up to 250 letters, digits, spaces and ``_-./:``."""
    if not isinstance(value, str) or not _KEY.match(value):
        raise InvalidParameterError(
            f"Invalid {kind} key {value!r}: expected a non-empty string of at most 250 "
            "letters, digits, spaces or '_-./:' (for example 'val/loss')."
        )
    return value


def check_url(value: object) -> str:
    """An http(s) URL such as ``http://127.0.0.1:8400``."""
    from urllib.parse import urlsplit

    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidParameterError(
            f"{value!r} is not a server URL. Expected http(s)://HOST[:PORT], "
            "e.g. http://127.0.0.1:8400."
        )
    return str(value)


def finite_float(kind: str, key: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"{kind} {key!r} must be a number, got {type(value).__name__} {value!r}."
        ) from None
    if not math.isfinite(number):
        raise InvalidParameterError(
            f"{kind} {key!r} got {number}; values must be finite numbers. Check for a "
            "diverging loss or a division by zero before logging it."
        )
    return number


def to_json_value(key: str, value: Any) -> Any:
    """``value`` as plain JSON data (numpy scalars and arrays converted), or a clear error."""
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars/arrays, torch tensors
        value = value.tolist()
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"Param {key!r} cannot be stored: {type(value).__name__} {value!r:.80} is not "
            f"JSON-serialisable ({exc}). Log a string, number, bool, None, or a list/dict of "
            "those, e.g. str(value)."
        ) from None
    return value
