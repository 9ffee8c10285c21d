"""A deployment row in the test's own workspace (nothing runs it: no control plane here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def workspace(lepton_home: Path) -> Any:
    from lepton.workspace import get_workspace

    return get_workspace()


@pytest.fixture
def deployment(workspace: Any) -> str:
    """The name of a saved, stopped deployment of a model that was never registered."""
    workspace.save_deployment(
        "svc",
        "default",
        {
            "model_name": "credit",
            "model_version": 1,
            "desired": "stopped",
            "status": "stopped",
            "replicas": 1,
            "host": "127.0.0.1",
            "port": 9,
            "key_hash": None,
            "options": {},
        },
    )
    return "svc"
