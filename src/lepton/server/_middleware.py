"""Two ASGI middlewares around the API: request body limits (413 before the body is read
past the limit) and the audit trail (every state change and every denied request)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import anyio

from lepton.server._errors import error_body

Scope = dict[str, Any]
Receive = Any
Send = Any

_CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
_DENIED = {401, 403, 413, 429}
_UPLOAD_TYPES = (b"multipart/form-data", b"application/octet-stream")


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return b""


async def _reply(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse bodies over ``max_body`` bytes (``max_upload`` for file uploads) with 413."""

    def __init__(self, app: Any, max_body: int, max_upload: int) -> None:
        self.app, self.max_body, self.max_upload = app, max_body, max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = _header(scope, b"content-type").startswith(_UPLOAD_TYPES)
        limit = self.max_upload if upload else self.max_body
        message = (
            f"The request body is larger than this server accepts ({limit:,} bytes"
            f"{' for uploads' if upload else ''}). Send less, or start the server with a larger "
            f"--{'max-upload' if upload else 'max-body'}."
        )
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            scope.setdefault("state", {})["refused"] = "payload_too_large"
            await _reply(send, 413, "payload_too_large", message)
            return
        received = 0
        started = refused = False

        # A body without a (truthful) length is counted as it streams in. Past the limit the
        # 413 goes out at once and the app reads a disconnect: an exception raised here would
        # reach the app's body parser, which answers 400 instead.
        async def limited_receive() -> Any:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > limit:
                    refused = True
                    scope.setdefault("state", {})["refused"] = "payload_too_large"
                    if not started:
                        await _reply(send, 413, "payload_too_large", message)
                    return {"type": "http.disconnect"}
            return event

        async def tracking_send(event: Any) -> None:
            nonlocal started
            if refused:
                return  # the 413 answer went out already: drop what the app says after it
            started = started or event["type"] == "http.response.start"
            await send(event)

        await self.app(scope, limited_receive, tracking_send)


def _signs_in_or_out(scope: Scope) -> bool:
    """A dashboard sign-in attempt (the form, or a one-time code link) or a sign-out."""
    path, method = scope["path"], scope["method"]
    if method == "POST":
        return path in ("/login", "/logout")
    return path == "/login" and "code" in parse_qs(
        scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
    )


class AuditTrail:
    """Append an audit entry for every state-changing request and every denied one, and for
    every dashboard sign-in attempt and sign-out.

    Who: the authenticated user (``anonymous`` when the key was missing or wrong); what: the
    method and route; target: the path (never the query: a sign-in code stays out of the
    trail); where from: the client address; outcome: ok, denied or failed, with the status
    code. Recorded after the response, off the event loop.
    """

    def __init__(self, app: Any, audit: Any) -> None:
        self.app, self.audit = app, audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        signing_in = _signs_in_or_out(scope)
        if not signing_in and not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        status = 500

        async def watching_send(event: Any) -> None:
            nonlocal status
            if event["type"] == "http.response.start":
                status = event["status"]
            await send(event)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            method = scope["method"]
            if signing_in or method in _CHANGES or status in _DENIED:
                await anyio.to_thread.run_sync(self._record, scope, method, status)

    def _record(self, scope: Scope, method: str, status: int) -> None:
        state = scope.get("state", {})
        route = scope.get("route")
        # the route's template is relative to /api/v1; a request refused before routing (413)
        # has only its path, shown the same way
        template = getattr(route, "path", None) or scope["path"].removeprefix("/api/v1")
        client = scope.get("client") or ("-", 0)
        outcome = "ok" if status < 400 else "denied" if status in _DENIED else "failed"
        self.audit.append(
            actor=state.get("actor", "anonymous"),
            action=f"{method} {template}",
            target=scope["path"],
            project=state.get("project"),
            source=str(client[0]),
            outcome=outcome,
            status_code=status,
            details=state.get("audit_details", {}),
        )
