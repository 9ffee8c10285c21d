"""Saving and loading scikit-learn objects without unpickling arbitrary code.

skops writes a documented, inspectable format; on load we accept only types from
scikit-learn, numpy and scipy. Anything else means the file was not written by Lepton, or was
tampered with, and is refused.
"""

from __future__ import annotations

import os
from typing import Any

from lepton.errors import IntegrityError

_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


def dump(obj: Any, path: str | os.PathLike[str]) -> None:
    import skops.io

    skops.io.dump(obj, str(path))


def load(path: str | os.PathLike[str]) -> Any:
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(file=str(path))
    except Exception as exc:
        raise IntegrityError(f"{path} is not a readable skops file: {exc}") from exc
    unsafe = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if unsafe:
        raise IntegrityError(
            f"{path} contains types Lepton does not load ({', '.join(unsafe[:5])}): it was not "
            "written by Lepton or has been tampered with. Re-export the model from its source."
        )
    return skops.io.load(str(path), trusted=untrusted)
