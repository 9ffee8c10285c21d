"""The Python examples of the pages that need a Ray cluster (docs/scaling.md) run, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.examples.test_docs_examples import docs, run_examples


@pytest.mark.parametrize("doc", docs(ray=True), ids=lambda p: p.name)
def test_ray_examples_run(doc: Path, ray_session: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run_examples(doc, capsys)
