"""The team server: the workspace as a REST API under ``/api/v1``, with users, roles, an audit
trail, encryption at rest, secrets and jobs, plus the control plane of deployments.

``lepton server start`` runs it; ``lepton login URL`` / ``lepton.connect`` point the SDK at it.
On a laptop ``lepton dev`` runs the same app over the embedded store, and ``dashboard_link()``
(``lepton dashboard``) gives a one-time sign-in link to its web dashboard. FastAPI loads only
when the server is built, so ``import lepton`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lepton.server._app import ServerOptions, create_app
    from lepton.server._dev import dashboard_link

__all__ = ["ServerOptions", "create_app", "dashboard_link"]


def __getattr__(name: str) -> Any:
    if name == "dashboard_link":
        from lepton.server import _dev

        return _dev.dashboard_link
    if name in __all__:
        from lepton.server import _app

        return getattr(_app, name)
    raise AttributeError(f"module 'lepton.server' has no attribute {name!r}")
