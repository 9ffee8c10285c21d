"""Lepton: from a CSV or a folder of images to a trained, evaluated, deployed model.

Public names load lazily on first use, so ``import lepton`` stays fast and pulls in no heavy
library (torch, sklearn, sqlalchemy...). ``lepton.__all__`` is the public API, pinned by a test.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lepton.errors import LeptonError

__version__ = "0.1.0"

# public name -> (module, attribute)
_LAZY: dict[str, tuple[str, str]] = {
    "Project": ("lepton.project", "Project"),
    "Run": ("lepton.tracking", "Run"),
    "active_run": ("lepton.tracking", "active_run"),
    "create_project": ("lepton.project", "create_project"),
    "init": ("lepton.project", "create_project"),
    "list_projects": ("lepton.project", "list_projects"),
    "start_run": ("lepton.tracking", "start_run"),
}

__all__ = ["LeptonError", "__version__", *sorted(_LAZY)]

if TYPE_CHECKING:
    from lepton.project import Project, create_project, list_projects
    from lepton.project import create_project as init
    from lepton.tracking import Run, active_run, start_run


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'lepton' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
