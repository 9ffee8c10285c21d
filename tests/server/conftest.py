"""Fixtures shared by the API suites."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import lepton
from lepton.workspace import reset


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A trained logistic regression saved as a bundle, trained once per module in a throwaway
    local home (the tests register it as many versions as they need)."""
    from lepton.models import save_model
    from lepton.testing import tiny_table

    home = tmp_path_factory.mktemp("train-home")
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("LEPTON_")]:
            patch.delenv(name)
        patch.setenv("LEPTON_HOME", str(home))
        patch.setenv("LEPTON_CREDENTIALS", str(home / "no-credentials.json"))
        reset()
        result = lepton.train(lepton.create_model("logistic_regression"), tiny_table(), verbose=0)
        path = save_model(result.model, home / "model.lepton")
        reset()
    yield path
