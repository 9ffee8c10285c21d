"""The team server: the workspace as a REST API under ``/api/v1``, with users, roles, an audit
trail, encryption at rest, secrets and jobs, plus the control plane of deployments.

``lepton server start`` runs it; ``lepton login URL`` / ``lepton.connect`` point the SDK at it.
FastAPI loads only when the server is built, so ``import lepton`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lepton.server._app import ServerOptions, create_app

__all__ = ["ServerOptions", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from lepton.server import _app

        return getattr(_app, name)
    raise AttributeError(f"module 'lepton.server' has no attribute {name!r}")
