"""The server's limits and edges through real requests: rate limits per key, body limits, CORS,
the open health check, and the audit entries of refused requests and changes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from lepton.errors import RateLimitedError
from lepton.workspace._remote_http import Transport


def client(server: Any, token: str | None = None) -> httpx.Client:
    token = server.admin_token if token is None else token
    return httpx.Client(
        base_url=server.url + "/api/v1",
        headers={"authorization": f"Bearer {token}"} if token else {},
        timeout=30,
    )


def audited(server: Any, count: int) -> list[Any]:
    """The audit entries, newest first, once ``count`` are there: each is written just after
    its response went out, so the client can be a moment ahead of the log."""
    deadline = time.monotonic() + 30
    while len(entries := server.state.audit.list(limit=10_000)) < count:
        assert time.monotonic() < deadline, f"{len(entries)} audit entries, expected {count}"
        time.sleep(0.02)
    return entries


def chunks(size: int, piece: int = 512) -> Iterator[bytes]:
    """A body streamed without a Content-Length (chunked), so the limit is met mid-stream."""
    for start in range(0, size, piece):
        yield b"x" * min(piece, size - start)


# rate limits --------------------------------------------------------------------------------------
def test_a_key_over_its_rate_gets_429_and_other_keys_do_not(
    start_server: Callable[..., Any],
) -> None:
    # a burst of 5 that refills once every 100 s: the 6th request is over the limit however
    # slowly this machine sends the first five
    server = start_server(rate_limit=0.01, rate_burst=5)
    other = server.make_token("viewer", "proj", name="other")
    with client(server) as admin, client(server, other) as second:
        assert [admin.get("/whoami").status_code for _ in range(5)] == [200] * 5
        limited = admin.get("/whoami")
        assert limited.status_code == 429, limited.text
        assert limited.json()["error"]["code"] == "rate_limited"
        assert "Too many requests with this API key" in limited.json()["error"]["message"]
        assert 1 <= int(limited.headers["retry-after"]) <= 100
        assert admin.post("/projects", json={"name": "p"}).status_code == 429  # writes too
        assert second.get("/whoami").status_code == 200  # another key has its own bucket
        # requests without a valid key are refused before they could use anyone's bucket
        assert httpx.get(server.url + "/api/v1/whoami").status_code == 401
    transport = Transport(server.url, server.admin_token)
    with pytest.raises(RateLimitedError, match="the limit is 0.01 per second"):
        transport.call("GET", "/whoami")  # the SDK raises the server's error class
    transport.close()
    refused = [(e.actor, e.action, e.outcome, e.status_code) for e in reversed(audited(server, 4))]
    assert refused == [
        ("admin", "GET /whoami", "denied", 429),
        ("admin", "POST /projects", "denied", 429),
        ("anonymous", "GET /whoami", "denied", 401),
        ("admin", "GET /whoami", "denied", 429),
    ]


def test_the_default_rate_limit_lets_a_busy_client_work(server: Any) -> None:
    with client(server) as admin:
        assert {admin.get("/whoami").status_code for _ in range(50)} == {200}


# body limits --------------------------------------------------------------------------------------
@pytest.fixture
def small(start_server: Callable[..., Any]) -> Any:
    return start_server(max_body=1000, max_upload=5000)


def too_large(response: httpx.Response, limit: str) -> None:
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert f"larger than this server accepts ({limit} bytes" in error["message"]


def test_a_json_body_over_max_body_is_refused_with_413(small: Any) -> None:
    with client(small) as admin:
        too_large(admin.post("/projects", json={"name": "p", "description": "x" * 2000}), "1,000")
        streamed = admin.post(
            "/projects", content=chunks(3000), headers={"content-type": "application/json"}
        )
        too_large(streamed, "1,000")
        # a body under the limit goes through, and the server still answers afterwards
        assert admin.post("/projects", json={"name": "p"}).status_code == 201
    assert small.state.workspace.list_projects()[0].name == "p"


def test_an_upload_may_be_larger_than_max_body_but_not_than_max_upload(small: Any) -> None:
    with client(small) as admin:
        run = admin.post("/runs", json={"project": "p", "name": "r"})
        assert run.status_code == 201, run.text
        url = f"/runs/{run.json()['id']}/artifacts/blob.bin"
        octets = {"content-type": "application/octet-stream"}
        stored = admin.put(url, content=b"x" * 3000, headers=octets)
        assert stored.status_code in (200, 201), stored.text
        too_large(admin.put(url, content=b"x" * 6000, headers=octets), "5,000")
        too_large(admin.put(url, content=chunks(6000), headers=octets), "5,000")
        assert admin.get(url).content == b"x" * 3000  # the refused uploads changed nothing


def test_refused_bodies_are_audited(small: Any) -> None:
    with client(small) as admin:
        admin.post("/projects", json={"name": "p", "description": "x" * 2000})
        admin.post("/projects", content=chunks(3000), headers={"content-type": "application/json"})
    entries = audited(small, 2)
    assert [(e.action, e.outcome, e.status_code) for e in entries] == [
        ("POST /projects", "denied", 413),
        ("POST /projects", "denied", 413),
    ]
    assert small.state.audit.verify().ok


# CORS ---------------------------------------------------------------------------------------------
def preflight(server: Any, origin: str) -> httpx.Response:
    return httpx.options(
        server.url + "/api/v1/projects",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )


def test_cross_origin_requests_are_not_allowed_by_default(server: Any) -> None:
    answer = preflight(server, "http://evil.example")
    assert "access-control-allow-origin" not in answer.headers
    simple = httpx.get(
        server.url + "/api/v1/projects",
        headers={"origin": "http://evil.example", "authorization": f"Bearer {server.admin_token}"},
    )
    assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers


def test_only_the_listed_origins_are_allowed(start_server: Callable[..., Any]) -> None:
    server = start_server(cors_origins=("http://ok.example",))
    allowed = preflight(server, "http://ok.example")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://ok.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = preflight(server, "http://evil.example")
    assert "access-control-allow-origin" not in refused.headers
    simple = httpx.get(
        server.url + "/api/v1/projects",
        headers={"origin": "http://ok.example", "authorization": f"Bearer {server.admin_token}"},
    )
    assert simple.headers["access-control-allow-origin"] == "http://ok.example"
    # CORS decides what a browser may read, never who is authenticated
    keyless = httpx.get(server.url + "/api/v1/projects", headers={"origin": "http://ok.example"})
    assert keyless.status_code == 401


# health check and audit -------------------------------------------------------------------------
def test_the_health_check_is_open_and_the_api_is_not(server: Any) -> None:
    health = httpx.get(server.url + "/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    refused = httpx.get(server.url + "/api/v1/projects")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert "needs an API key" in refused.json()["error"]["message"]
    assert [e.target for e in audited(server, 1)] == ["/api/v1/projects"]  # not /healthz


def test_denied_requests_and_changes_are_audited(server: Any) -> None:
    viewer = server.make_token("viewer", "alpha", name="vera")
    with client(server) as admin, client(server, viewer) as vera, client(server, "") as nobody:
        assert admin.post("/projects", json={"name": "alpha"}).status_code == 201
        assert admin.get("/projects").status_code == 200  # a read: not audited
        assert vera.post("/projects", json={"name": "beta"}).status_code == 403
        assert vera.get("/projects/alpha").status_code == 200
        assert nobody.get("/projects").status_code == 401
        wrong = httpx.get(server.url + "/api/v1/whoami", headers={"authorization": "Bearer lp_x"})
        assert wrong.status_code == 401
        assert admin.post("/runs", json={"project": "nowhere-yet", "name": "r"}).status_code == 201
        assert admin.get("/runs/deadbeef").status_code == 404  # a failed read: not audited
        assert admin.post("/runs/deadbeef/end", json={}).status_code == 404
    entries = list(reversed(audited(server, 6)))
    seen = [(e.actor, e.action, e.project, e.outcome, e.status_code) for e in entries]
    assert seen == [
        ("admin", "POST /projects", "alpha", "ok", 201),
        ("vera", "POST /projects", "beta", "denied", 403),
        ("anonymous", "GET /projects", None, "denied", 401),
        ("anonymous", "GET /whoami", None, "denied", 401),
        ("admin", "POST /runs", "nowhere-yet", "ok", 201),
        ("admin", "POST /runs/{run_id}/end", None, "failed", 404),
    ]
    assert {e.source for e in entries} == {"127.0.0.1"}
    assert entries[0].target == "/api/v1/projects"
    assert server.state.audit.verify().ok
