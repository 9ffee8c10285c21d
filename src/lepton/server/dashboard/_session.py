"""Who is looking at a page: the signed-in user of the session cookie, or the holder of an
API key sent as ``Authorization: Bearer`` (scripts, curl, tests). A page without either, or
with a session that ended, redirects to the sign-in page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from lepton.errors import AuthenticationError
from lepton.security._sessions import CSRF_HEADER, SESSION_COOKIE
from lepton.server._context import Caller, principal_of

__all__ = ["CSRF_HEADER", "SESSION_COOKIE", "SignInRequired", "Viewer", "page_caller"]


class SignInRequired(Exception):
    """No session and no key: the page answers with a redirect to /login?next=PATH."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


async def page_caller(request: Request) -> Caller:
    """The FastAPI dependency of every page (viewer checks are the page's own)."""
    has_key = bool(request.headers.get("authorization"))
    if not has_key and not request.cookies.get(SESSION_COOKIE):
        raise SignInRequired()
    try:
        principal = principal_of(request)
    except AuthenticationError as error:
        if has_key:
            raise  # a script's wrong key: a 401 page, not a sign-in form
        raise SignInRequired(str(error)) from None
    request.state.caller = Caller(principal, request)  # error pages show the menu too
    return request.state.caller


Viewer = Annotated[Caller, Depends(page_caller)]
