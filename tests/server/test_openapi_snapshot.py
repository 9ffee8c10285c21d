"""The API's OpenAPI document is a contract: any change to it shows up in review as a change to
the snapshot. After an intended change, refresh it with
``UPDATE_OPENAPI_SNAPSHOT=1 .venv/bin/pytest tests/server/test_openapi_snapshot.py``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("openapi.snapshot.json")


def _document(server: Any) -> dict[str, Any]:
    import httpx

    document: dict[str, Any] = httpx.get(server.url + "/api/v1/openapi.json").json()
    document["info"].pop("version", None)  # the package version changes with every release
    return document


def test_openapi_document_matches_snapshot(server: Any) -> None:
    document = _document(server)
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_OPENAPI_SNAPSHOT"):
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.is_file(), "no snapshot yet: run with UPDATE_OPENAPI_SNAPSHOT=1"
    expected = json.loads(SNAPSHOT.read_text())
    changed = sorted(
        set(document["paths"]) ^ set(expected["paths"])
        | {p for p in document["paths"] if document["paths"][p] != expected["paths"].get(p)}
    )
    assert document == expected, (
        f"The API changed (paths: {changed or 'schemas only'}). If intended, refresh the "
        "snapshot: UPDATE_OPENAPI_SNAPSHOT=1 .venv/bin/pytest tests/server/test_openapi_snapshot.py"
    )


def test_every_operation_declares_its_role(server: Any) -> None:
    document = _document(server)
    missing = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "x-required-role" not in operation
    ]
    assert not missing, f"routes without x-required-role: {missing}"
