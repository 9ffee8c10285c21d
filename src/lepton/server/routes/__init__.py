"""The API's routers, one module per resource. Each route declares the role it needs
(``openapi_extra=role(...)``) and checks it with ``caller.require``."""

from __future__ import annotations

from lepton.server.routes import (
    admin,
    alerts,
    datasets,
    deployments,
    jobs,
    models,
    projects,
    runs,
    secrets,
)

ROUTERS = [
    projects.router,
    runs.router,
    datasets.router,
    models.router,
    deployments.router,
    alerts.router,
    jobs.router,
    secrets.router,
    admin.router,
]
