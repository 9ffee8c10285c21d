"""Who is looking at a page: the signed-in user of the session cookie, or the holder of an
API key sent as ``Authorization: Bearer`` (scripts, curl, tests). A page without either
redirects to the sign-in page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from lepton.errors import AuthenticationError
from lepton.server._context import Caller, state_of

SESSION_COOKIE = "lepton_session"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """No session and no key: the page answers with a redirect to /login?next=PATH."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


async def page_caller(request: Request) -> Caller:
    """The FastAPI dependency of every page (viewer checks are the page's own)."""
    from lepton.security._keys import bearer

    state = state_of(request)
    header = request.headers.get("authorization")
    token = request.cookies.get(SESSION_COOKIE)
    if header:
        principal = state.security.authenticate(bearer(header))
        request.state.csrf = ""
    elif token:
        try:
            session = state.security.session(token)
        except AuthenticationError as error:
            raise SignInRequired(str(error)) from None
        principal = session.principal
        request.state.csrf = session.csrf
    else:
        raise SignInRequired()
    request.state.actor = principal.name
    state.limiter.check(principal.key_id)
    request.state.caller = Caller(principal, request)  # error pages show the menu too
    return request.state.caller


Viewer = Annotated[Caller, Depends(page_caller)]
