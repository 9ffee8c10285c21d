"""Every Python example in the README and docs/ runs, in order, one namespace per file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
# a page whose examples use a Ray cluster says so; tests/ray/test_docs_ray.py runs those
NEEDS_RAY = "<!-- examples need Ray -->"


def python_blocks(path: Path) -> list[str]:
    return _BLOCK.findall(path.read_text(encoding="utf-8"))


def docs(*, ray: bool) -> list[Path]:
    """The README and docs/ pages with Python examples, those that need Ray or the others."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [
        page
        for page in pages
        if python_blocks(page) and (NEEDS_RAY in page.read_text(encoding="utf-8")) == ray
    ]


@pytest.mark.parametrize("doc", docs(ray=False), ids=lambda p: p.name)
def test_python_examples_run(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_examples(doc, capsys)


def run_examples(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for index, block in enumerate(python_blocks(doc)):
        code = compile(block, f"{doc.name}[block {index}]", "exec")
        exec(code, namespace)
    printed = capsys.readouterr().out
    # where an example shows its output in a trailing comment, the printed line must match
    for block in python_blocks(doc):
        for expected in re.findall(r"^print\(.*\)\s+# (.+)$", block, re.M):
            assert expected.strip() in printed, f"{doc.name}: expected {expected!r} in output"
