"""The dashboard's pages, one module per area. Each module has a ``router``; its routes
render templates of the same name with ``_render.render`` and read through the workspace."""

from __future__ import annotations

from lepton.server.dashboard.pages import (
    alerts,
    audit,
    datasets,
    deployments,
    jobs,
    models,
    overview,
    runs,
    settings,
    signin,
)

ROUTERS = [
    signin.router,
    overview.router,
    datasets.router,
    runs.router,
    models.router,
    deployments.router,
    jobs.router,
    alerts.router,
    audit.router,
    settings.router,
]
