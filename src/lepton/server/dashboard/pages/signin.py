"""Signing in and out of the dashboard.

``GET /login`` shows the form (a user name and password, or an API key); ``GET /login?code=``
signs in with a one-time link (``lepton dashboard`` prints one); ``POST /login`` checks the
form; ``POST /logout`` ends the session. A successful sign-in sets the ``lepton_session``
cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) and goes back to the page that asked for it
(``next``, only when it is a path on this server: never an open redirect).

The form carries its own CSRF token, a random value both in a short-lived SameSite=Strict
cookie and in a hidden field ("double submit"): another site cannot post a sign-in into the
victim's browser (login CSRF). Password tries are rate limited per client address and user;
every attempt, the refused ones included, goes to the audit trail (never the password).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lepton.errors import AuthenticationError, PermissionDeniedError, RateLimitedError
from lepton.security._sessions import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    Session,
    same_token,
)
from lepton.server._context import limit_password_tries, state_of
from lepton.server.dashboard._render import SECURITY_HEADERS, render

router = APIRouter()

LOGIN_FORM_MAX_AGE = 30 * 60  # seconds a sign-in form stays usable


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this server, else ``/``: ``//host`` and ``/\\host`` are
    other sites to a browser, and browsers drop tabs and newlines, so ``/\\t/host`` is one too.

    >>> safe_next("/runs?project=credit"), safe_next("//evil.example"), safe_next("https://x")
    ('/runs?project=credit', '/', '/')
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 0x20 or c == "\x7f" for c in target):
        return "/"
    return target


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


async def _read_form(request: Request) -> Any:
    # anyone may post here, signed in or not: a few short fields, never files
    return await request.form(max_files=0, max_fields=20, max_part_size=16 << 10)


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""  # an uploaded file is no answer


def _form_page(
    request: Request, *, status: int = 200, error: str = "", next_path: str = "/", user: str = ""
) -> HTMLResponse:
    """The sign-in page, with a fresh login CSRF token in its cookie and its hidden field."""
    login_csrf = secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        status=status,
        title="Sign in",
        me=None,
        error=error,
        next_path=next_path,
        user=user,
        login_csrf=login_csrf,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        login_csrf,
        max_age=LOGIN_FORM_MAX_AGE,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_https(request),
    )
    return response


def _signed_in(request: Request, session: Session, next_path: str) -> Response:
    """Set the session cookie and go on to ``next_path``."""
    request.state.actor = session.principal.name
    response = RedirectResponse(safe_next(next_path), status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=int(SESSION_LIFETIME),
        path="/",
        httponly=True,
        samesite="lax",  # sent when following a link from elsewhere, never with their POSTs
        secure=_https(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.get("/login", response_class=HTMLResponse)
def sign_in_page(
    request: Request,
    next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/",
    code: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The sign-in form; with ``code``, a one-time sign-in link; already signed in: ``next``."""
    security = state_of(request).security
    target = safe_next(next_path)
    if code is not None:
        request.state.audit_details = {"method": "code"}
        try:
            session = security.redeem_signin_code(code)
        except AuthenticationError as error:
            return _form_page(request, status=401, error=str(error), next_path=target)
        return _signed_in(request, session, target)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            security.session(token)
        except AuthenticationError:
            pass  # ended or expired: sign in again
        else:
            return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    return _form_page(request, next_path=target)


@router.post("/login", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    """Check the sign-in form: an API key when one is given, else the user name and password."""
    form = await _read_form(request)
    target = safe_next(_field(form, "next"))
    key, user, password = _field(form, "key"), _field(form, "user"), _field(form, "password")
    if key:
        request.state.audit_details = {"method": "key"}
    else:
        request.state.audit_details = {"method": "password", "user": user[:100]}
    again = {"next_path": target, "user": "" if key else user}
    if not same_token(_field(form, "login_csrf"), request.cookies.get(LOGIN_COOKIE, "")):
        return _form_page(
            request,
            status=403,
            error="This sign-in form is too old, or was not sent from this server's sign-in "
            "page. The page has been reloaded: please sign in again.",
            **again,
        )
    security = state_of(request).security
    try:
        if key:
            session = await run_in_threadpool(security.sign_in_with_key, key)
        elif not user or not password:
            return _form_page(
                request,
                status=422,
                error="Enter your user name and password, or an API key.",
                **again,
            )
        else:
            limit_password_tries(request, user)
            session = await run_in_threadpool(security.sign_in_with_password, user, password)
    except RateLimitedError as error:
        response = _form_page(request, status=429, error=str(error), **again)
        response.headers["Retry-After"] = str(max(1, round(getattr(error, "retry_after", 6))))
        return response
    except AuthenticationError as error:
        return _form_page(request, status=401, error=str(error), **again)
    return _signed_in(request, session, target)


@router.post("/logout")
async def sign_out(request: Request) -> Response:
    """End the session (the form's ``csrf`` field must be the session's) and forget the
    cookie; without a live session there is nothing to end: back to the sign-in page."""
    form = await _read_form(request)
    response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_https(request)
    )
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return response
    security = state_of(request).security
    try:
        session = await run_in_threadpool(security.session, token)
    except AuthenticationError:
        return response
    request.state.actor = session.principal.name
    if not same_token(_field(form, "csrf"), session.csrf):
        # another site's form must not sign people out: only the page's own button may
        raise PermissionDeniedError(
            "Signing out needs the CSRF token of the page the button is on, and this request "
            "had a missing or wrong one. Reload the page and use its Sign out button."
        )
    await run_in_threadpool(security.end_session, token)
    return response
