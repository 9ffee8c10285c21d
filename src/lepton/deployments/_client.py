"""``lepton.Client``: call a deployment from Python, with retries and typed errors."""

from __future__ import annotations

import time
from typing import Any

from lepton._optional import require
from lepton.errors import LeptonError


class ServingError(LeptonError, RuntimeError):
    """A prediction request failed; ``status`` is the HTTP status (0: no answer)."""

    code = "serving_error"

    def __init__(self, message: str, status: int = 0, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class UnauthorizedError(ServingError):
    code = "unauthorized"


class InvalidInputError(ServingError):
    code = "invalid_input"


class OverloadedError(ServingError):
    code = "overloaded"


class UnavailableError(ServingError):
    code = "unavailable"


def _plain(item: Any) -> Any:
    """NaN (pandas' missing value) as JSON null, numpy scalars as plain numbers."""
    if isinstance(item, dict):
        return {k: _plain(v) for k, v in item.items()}
    if isinstance(item, list | tuple):
        return [_plain(v) for v in item]
    if hasattr(item, "item") and callable(item.item):
        item = item.item()
    if isinstance(item, float) and item != item:
        return None
    return item


_ERRORS = {
    401: UnauthorizedError,
    403: UnauthorizedError,
    413: InvalidInputError,
    422: InvalidInputError,
    429: OverloadedError,
    503: UnavailableError,
}


class Client:
    """A client of one model server or deployment.

    Retries 429 and 503 (honouring Retry-After) and connection failures, up to ``retries``
    times with exponential backoff; raises a ServingError subclass otherwise.

    Example:
        >>> client = lepton.Client("http://127.0.0.1:8000", token="lp_...")
        >>> client.predict([{"income": 42000, "age": 31}])
    """

    def __init__(
        self, url: str, token: str | None = None, *, timeout: float = 30.0, retries: int = 5
    ) -> None:
        httpx = require("httpx", purpose="call a model server")
        self.url = url.rstrip("/")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self.retries = retries

    def __repr__(self) -> str:
        return f"Client({self.url!r})"  # never the token

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def predict_full(self, inputs: list[Any]) -> dict[str, Any]:
        """The whole response: predictions, probabilities, classes, model and version."""
        import httpx

        delay = 0.1
        payload = {"inputs": [_plain(item) for item in inputs]}
        for attempt in range(self.retries + 1):
            try:
                reply = self._http.post("/v1/predict", json=payload)
            except httpx.TimeoutException as exc:
                raise ServingError(f"{self.url} did not answer within the timeout: {exc}") from exc
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise UnavailableError(f"Cannot reach {self.url}: {exc}") from exc
                time.sleep(delay)
                delay *= 2
                continue
            if reply.status_code in (429, 503) and attempt < self.retries:
                time.sleep(_retry_after(reply.headers.get("retry-after"), delay))
                delay *= 2
                continue
            if reply.status_code != 200:
                try:
                    error = reply.json().get("error", {})
                except ValueError:
                    error = {"message": reply.text[:200]}
                kind = _ERRORS.get(reply.status_code, ServingError)
                raise kind(
                    f"{reply.status_code}: {error.get('message', 'request failed')}",
                    reply.status_code,
                    error.get("field"),
                )
            result: dict[str, Any] = reply.json()
            return result
        raise AssertionError("unreachable")

    def predict(self, inputs: list[Any]) -> list[Any]:
        """Predictions for records (dicts) or rows (lists), in order."""
        return list(self.predict_full(inputs)["predictions"])

    def predict_proba(self, inputs: list[Any]) -> list[list[float]]:
        result = self.predict_full(inputs)
        if "probabilities" not in result:
            raise ServingError("This model gives no probabilities (it is not a classifier).")
        return list(result["probabilities"])

    def model_info(self) -> dict[str, Any]:
        reply = self._http.get("/v1/model")
        if reply.status_code != 200:
            raise _ERRORS.get(reply.status_code, ServingError)(
                f"{reply.status_code}: {reply.text[:200]}", reply.status_code
            )
        info: dict[str, Any] = reply.json()
        return info


def _retry_after(header: str | None, default: float) -> float:
    """Seconds to wait before a retry: the server's Retry-After in seconds, else ``default``
    (an HTTP date, which the header may also hold, is not worth a parser here)."""
    try:
        seconds = float(header) if header is not None else default
    except ValueError:
        return default
    return seconds if 0 <= seconds < float("inf") else default
