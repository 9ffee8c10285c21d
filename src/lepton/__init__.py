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
    "Client": ("lepton.deployments", "Client"),
    "Dataset": ("lepton.data", "Dataset"),
    "ModelConfig": ("lepton.models", "ModelConfig"),
    "Project": ("lepton.project", "Project"),
    "Run": ("lepton.tracking", "Run"),
    "active_run": ("lepton.tracking", "active_run"),
    "connect": ("lepton.workspace", "connect"),
    "create_model": ("lepton.models", "create_model"),
    "deploy": ("lepton.deployments", "deploy"),
    "evaluate": ("lepton.evaluation", "evaluate"),
    "create_project": ("lepton.project", "create_project"),
    "init": ("lepton.project", "create_project"),
    "list_projects": ("lepton.project", "list_projects"),
    "check_policies": ("lepton.governance", "check_policies"),
    "compress": ("lepton.compression", "compress"),
    "load_model": ("lepton.registry", "load_model"),
    "predict_batch": ("lepton.scoring", "predict_batch"),
    "register": ("lepton.registry", "register"),
    "save_model": ("lepton.models", "save_model"),
    "start_run": ("lepton.tracking", "start_run"),
    "train": ("lepton.training", "train"),
    "tune": ("lepton.tuning", "tune"),
}

__all__ = ["LeptonError", "__version__", *sorted(_LAZY)]

if TYPE_CHECKING:
    from lepton.compression import compress
    from lepton.data import Dataset
    from lepton.deployments import Client, deploy
    from lepton.evaluation import evaluate
    from lepton.governance import check_policies
    from lepton.models import ModelConfig, create_model, save_model
    from lepton.project import Project, create_project, list_projects
    from lepton.project import create_project as init
    from lepton.registry import load_model, register
    from lepton.scoring import predict_batch
    from lepton.tracking import Run, active_run, start_run
    from lepton.training import train
    from lepton.tuning import tune
    from lepton.workspace import connect


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
