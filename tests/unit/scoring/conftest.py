"""Models shared by the scoring tests, fitted once per module on tiny data (fitting touches no
workspace, so each test still scores into its own LEPTON_HOME and folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lepton
from lepton.testing import tiny_table


@pytest.fixture(scope="module")
def table() -> Any:
    """120 rows: numeric, categorical and missing values; a yes/no target."""
    return tiny_table("classification", rows=120, seed=0)


@pytest.fixture(scope="module")
def classifier(table: Any) -> Any:
    return lepton.create_model("logistic_regression").fit(table)


@pytest.fixture
def bundle(classifier: Any, tmp_path: Path) -> Path:
    return lepton.save_model(classifier, tmp_path / "model.lepton")
