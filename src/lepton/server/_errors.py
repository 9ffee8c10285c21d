"""Every error leaves the server as ``{"error": {"code", "message", "details"}}`` with the
status code that fits, and never as a traceback. ``details.type`` names the LeptonError class
so that ``RemoteWorkspace`` raises the same exception the embedded workspace would."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from lepton import errors as e

log = logging.getLogger("lepton.server")

# most specific first: the first class an error is an instance of decides its status
STATUS_OF: tuple[tuple[type[e.LeptonError], int], ...] = (
    (e.AuthenticationError, 401),
    (e.PermissionDeniedError, 403),
    (e.PolicyViolationError, 403),
    (e.NotFoundError, 404),
    (e.AlreadyExistsError, 409),
    (e.PayloadTooLargeError, 413),
    (e.RateLimitedError, 429),
    (e.IntegrityError, 409),
    (e.StoreError, 503),
    (e.InvalidParameterError, 422),
    (e.ConfigError, 422),
    (e.DataError, 422),
)


def status_of(error: e.LeptonError) -> int:
    for cls, status in STATUS_OF:
        if isinstance(error, cls):
            return status
    return 400


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def lepton_error_response(error: e.LeptonError) -> JSONResponse:
    details: dict[str, Any] = {"type": type(error).__name__}
    if isinstance(error, e.NotFoundError):
        details.update(kind=error.kind, name=error.name, existing=error.existing)
    headers = {}
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    if isinstance(error, e.AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        error_body(error.code, str(error), details), status_of(error), headers=headers
    )


def install(app: FastAPI) -> None:
    """JSON errors for the API; dashboard pages get the same status as an HTML page."""
    from lepton.server.dashboard._errors import error_page, is_page, sign_in_redirect
    from lepton.server.dashboard._session import SignInRequired

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        return sign_in_redirect(request)

    @app.exception_handler(e.LeptonError)
    async def _lepton(request: Request, error: e.LeptonError) -> Response:
        if is_page(request):
            return error_page(request, status_of(error), str(error))
        return lepton_error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        problems = [
            {"loc": list(p.get("loc", ())), "msg": str(p.get("msg", ""))} for p in error.errors()
        ]
        where = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems[:5])
        message = f"The request is not valid: {where}. See /docs for the expected shape."
        if is_page(request):
            return error_page(request, 422, f"The address is not valid: {where}.")
        return JSONResponse(
            error_body("invalid_request", message, {"problems": problems}), status_code=422
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> Response:
        if is_page(request):
            return error_page(request, error.status_code, str(error.detail))
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(error.detail)), error.status_code, headers=error.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        message = (
            f"The server failed on this request ({type(error).__name__}). It has been logged; "
            "if it persists, report it with the server log."
        )
        if is_page(request):
            return error_page(request, 500, message)
        return JSONResponse(error_body("internal_error", message), status_code=500)
