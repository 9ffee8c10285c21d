"""Errors on pages are pages: one readable paragraph with the status, never JSON or a
traceback. A page that needs a sign-in redirects to the sign-in page and back."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

HEADINGS = {
    400: "That request was not understood",
    401: "Please sign in",
    403: "You do not have access to this",
    404: "Not found",
    405: "Not allowed here",
    409: "That conflicts with what is there",
    413: "Too large",
    422: "That input is not valid",
    429: "Too many requests",
    500: "Something went wrong on the server",
    503: "The store is unavailable",
}


def is_page(request: Request) -> bool:
    """Whether ``request`` is for the dashboard (everything but the API and the probes)."""
    path = request.url.path
    return not (path.startswith("/api/") or path == "/healthz" or path.startswith("/static/"))


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def error_page(request: Request, status: int, message: str, hint: str = "") -> HTMLResponse:
    from lepton.server.dashboard._render import render

    caller = getattr(request.state, "caller", None)
    return render(
        request,
        "error.html",
        status=status,
        title=HEADINGS.get(status, "Error"),
        heading=HEADINGS.get(status, "Error"),
        message=message,
        hint=hint,
        me=caller,
    )
