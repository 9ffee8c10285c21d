"""Saving and loading scikit-learn objects without unpickling arbitrary code.

skops writes a documented, inspectable format; on load we accept only types from
scikit-learn, NumPy and SciPy. Anything else means the file was not written by Lepton, or was
tampered with, and is refused before a single object is built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lepton.errors import IntegrityError

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")


def dumps(obj: Any) -> bytes:
    import skops.io

    data: bytes = skops.io.dumps(obj)
    return data


def loads(data: bytes, source: str) -> Any:
    """Build the object in ``data`` (read from ``source``, named in errors) if it is safe."""
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as exc:
        raise IntegrityError(f"{source} is not a readable skops file: {exc}") from exc
    unsafe = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if unsafe:
        raise IntegrityError(
            f"{source} holds types outside scikit-learn, NumPy and SciPy ({', '.join(unsafe[:5])}); "
            "loading them could run arbitrary code, so it was refused. It was not written by "
            "Lepton or has been tampered with: re-export the model from its source."
        )
    return skops.io.loads(data, trusted=untrusted)


def dump(obj: Any, path: str | os.PathLike[str]) -> None:
    from lepton._fs import atomic_write_bytes

    atomic_write_bytes(path, dumps(obj))


def load(path: str | os.PathLike[str]) -> Any:
    return loads(Path(path).read_bytes(), str(path))
