"""Fuzz every operation of the API from its own OpenAPI document (schemathesis): generated
valid and invalid requests, with an admin key, must never get a 5xx answer."""

from __future__ import annotations

import os
from typing import Any

import pytest

EXAMPLES = int(os.environ.get("LEPTON_FUZZ_EXAMPLES", "25"))  # per operation, bounded for CI


def test_no_operation_answers_5xx(server: Any) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    import httpx
    from hypothesis import HealthCheck, given, settings

    document = httpx.get(server.url + "/api/v1/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    headers = {"authorization": f"Bearer {server.admin_token}"}
    failures: list[str] = []
    calls = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 2

    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(base_url=server.url, headers=headers, timeout=30)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:300]}"
                )

        call()
    assert calls >= len(operations) * 2, "the fuzzer generated (almost) no requests"
    assert not failures, "\n".join(failures[:20])
