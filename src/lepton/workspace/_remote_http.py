"""The HTTP side of ``RemoteWorkspace``: one keep-alive connection pool to the server, JSON
calls, streamed uploads and downloads, and server errors turned back into the LeptonError the
embedded workspace would have raised."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from lepton import errors
from lepton.errors import LeptonError, ServerUnavailableError

API = "/api/v1"


def segment(value: Any) -> str:
    """One URL path segment (names are validated, but never trust them in a URL)."""
    from urllib.parse import quote

    return quote(str(value), safe="")


def error_from(status: int, body: Any, url: str) -> LeptonError:
    """The exception of an error response: the same class as on the server when it is known."""
    problem = body.get("error", {}) if isinstance(body, dict) else {}
    message = str(problem.get("message") or f"The server answered HTTP {status} for {url}.")
    details = problem.get("details") or {}
    cls = _error_classes().get(str(details.get("type", "")))
    if cls is None:
        cls = {
            401: errors.AuthenticationError,
            403: errors.PermissionDeniedError,
            404: errors.NotFoundError,
            409: errors.AlreadyExistsError,
            413: errors.PayloadTooLargeError,
            422: errors.InvalidParameterError,
            429: errors.RateLimitedError,
        }.get(status, ServerUnavailableError)
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    if isinstance(error, errors.NotFoundError):
        error.name = str(details.get("name", ""))
        error.existing = list(details.get("existing", []))
    return error


def _error_classes() -> dict[str, type[LeptonError]]:
    found: dict[str, type[LeptonError]] = {}
    pending: list[type[LeptonError]] = [LeptonError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


class Transport:
    """Calls to ``URL/api/v1`` with ``Authorization: Bearer TOKEN``."""

    def __init__(self, url: str, token: str | None, timeout: float = 60.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(
            base_url=self.url + API, headers=headers, timeout=timeout, follow_redirects=False
        )

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; return the decoded JSON answer (None for 204)."""
        response = self._send(method, path, **kwargs)
        return None if response.status_code == 204 or not response.content else response.json()

    @contextlib.contextmanager
    def stream(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """A streamed GET: yields the response, whose ``iter_bytes()`` reads the body."""
        import httpx

        try:
            with self.client.stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._error(response)
                yield response
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise self._error(response)
        return response

    def _error(self, response: Any) -> LeptonError:
        try:
            body = response.json()
        except ValueError:
            body = None
        return error_from(response.status_code, body, str(response.url))

    def _unreachable(self, exc: Exception) -> ServerUnavailableError:
        return ServerUnavailableError(
            f"Could not reach the Lepton server at {self.url} ({type(exc).__name__}: {exc}). "
            "Check that it runs (lepton server start) and that LEPTON_URL / `lepton login` "
            "name the right address."
        )
