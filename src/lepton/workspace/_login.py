"""``lepton login`` / ``lepton logout``: remember which team server to use, with which key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lepton._validation import check_url


def whoami(url: str, token: str | None) -> dict[str, Any]:
    """The user and roles behind ``token`` on the server at ``url`` (raises if it is refused)."""
    from lepton.workspace._remote_http import Transport

    transport = Transport(check_url(url), token, timeout=15.0)
    try:
        answer: dict[str, Any] = transport.call("GET", "/whoami")
        return answer
    finally:
        transport.close()


def login(url: str, token: str | None) -> tuple[dict[str, Any], Path]:
    """Check ``token`` against the server, then save both (0600) as the server to use."""
    from lepton._credentials import save_login

    identity = whoami(url, token)
    return identity, save_login(url, token)


def logout() -> bool:
    from lepton._credentials import forget_login

    return forget_login()
