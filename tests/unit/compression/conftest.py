"""Models shared by the compression tests, fitted once per module on tiny data (fitting touches
no workspace, so each test still compresses into its own LEPTON_HOME)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.compression._data import table

import lepton
from lepton.testing import tiny_images


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """Tiny 16x16 images of two classes, split into train and valid."""
    folder = tmp_path_factory.mktemp("images")
    return tiny_images(folder, per_class=16, size=16).split(test_size=0.25, seed=0)


@pytest.fixture(scope="module")
def cnn(images: tuple[Any, Any]) -> Any:
    # no loader worker processes: forking a process that already holds onnxruntime (and
    # LightGBM) thread pools has hung a worker at exit under pytest-xdist (see the closing note
    # of issue 8); these tests are about compression, not about the image loader
    return lepton.create_model("cnn", epochs=3, num_workers=0).fit(images[0])


@pytest.fixture(scope="module")
def mlp() -> Any:
    return lepton.create_model("mlp", epochs=8).fit(table()[0])
