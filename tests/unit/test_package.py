"""The package's promises: a pinned public API and a fast, light import."""

from __future__ import annotations

import json
import subprocess
import sys

import lepton

HEAVY = ("torch", "torchvision", "sklearn", "lightgbm", "ray", "fastapi", "sqlalchemy", "pandas")


def test_public_api_is_pinned() -> None:
    assert lepton.__all__ == [
        "LeptonError",
        "__version__",
        "Client",
        "Dataset",
        "ModelConfig",
        "Project",
        "Run",
        "active_run",
        "check_policies",
        "compress",
        "connect",
        "create_model",
        "create_project",
        "deploy",
        "evaluate",
        "init",
        "list_projects",
        "load_model",
        "predict_batch",
        "register",
        "save_model",
        "start_run",
        "train",
        "tune",
    ]
    for name in lepton.__all__:
        assert getattr(lepton, name) is not None


def test_unknown_attribute() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        _ = lepton.trian  # type: ignore[attr-defined]


def test_import_lepton_loads_no_heavy_library() -> None:
    code = (
        f"import sys, json, lepton; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_cli_help_loads_no_heavy_library() -> None:
    code = (
        "import sys, json\n"
        "from lepton.cli._app import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
