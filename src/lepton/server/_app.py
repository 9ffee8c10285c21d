"""Build the team server's ASGI app: the workspace's REST API under ``/api/v1`` behind API-key
authentication, per-project roles, body limits, rate limits and the audit trail; the control
plane of deployments and the job scheduler run inside it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from lepton.config import Settings
from lepton.server import _errors
from lepton.server._context import ServerState
from lepton.server._middleware import AuditTrail, BodyLimit

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class ServerOptions:
    """How the server runs. Defaults are the safe ones: localhost only, strict limits."""

    host: str = "127.0.0.1"
    port: int = 8400
    tls_cert: str | None = None
    tls_key: str | None = None
    insecure: bool = False  # allow a non-local bind without TLS
    max_body: int = 16 << 20  # JSON requests
    max_upload: int = 10 << 30  # dataset files, artifacts, model bundles
    rate_limit: float = 200.0  # requests per second per key (sustained)
    rate_burst: int = 1000
    cors_origins: tuple[str, ...] = ()  # same origin only unless listed
    cpu_slots: int = 2  # jobs running at once, by the CPU and GPU slots they ask for
    gpu_slots: int = 0
    control_plane: bool = True
    scheduler: bool = True


def build_state(settings: Settings, options: ServerOptions) -> ServerState:
    from lepton.security import AuditLog, RateLimiter, Security
    from lepton.workspace._current import master_key_of
    from lepton.workspace._local import LocalWorkspace

    workspace = LocalWorkspace(
        settings.db_url,
        settings.artifacts_url,
        str(settings.home),
        master_key=master_key_of(settings),
    )
    return ServerState(
        workspace=workspace,
        security=Security(workspace.meta),
        audit=AuditLog(workspace.meta),
        limiter=RateLimiter(options.rate_limit, options.rate_burst),
        options=options,
    )


def create_app(settings: Settings, options: ServerOptions | None = None) -> FastAPI:
    """The server app over the store of ``settings`` (PostgreSQL + S3 or SQLite + a folder)."""
    options = options or ServerOptions()
    state = build_state(settings, options)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for start in _BACKGROUND:
                await stack.enter_async_context(start(state, settings.home))
            yield
        state.workspace.close()

    from lepton import __version__

    app = FastAPI(
        title="Lepton",
        version=__version__,
        summary="The Lepton team server: projects, datasets, runs, models, deployments, jobs.",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.lepton = state
    _errors.install(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from lepton.server.routes import ROUTERS

    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)

    from lepton.server import dashboard

    dashboard.install(app)

    # the last one added is the outermost: the audit trail sees every request, those the body
    # limit refuses (413) included
    app.add_middleware(BodyLimit, max_body=options.max_body, max_upload=options.max_upload)
    if options.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(options.cors_origins),
            allow_methods=["*"],
            allow_headers=["authorization", "content-type"],
        )
    app.add_middleware(AuditTrail, audit=state.audit)
    return app


@contextlib.asynccontextmanager
async def _control_plane(state: ServerState, home: Path) -> AsyncIterator[None]:
    """The deployments' control plane, as a task of the server's event loop."""
    if not state.options.control_plane:
        yield
        return
    from lepton.deployments._controlplane import ControlPlane
    from lepton.deployments._daemon import hold_lock

    with hold_lock(home):
        plane = ControlPlane(state.workspace, home)
        state.services["control_plane"] = plane
        task = asyncio.create_task(plane.run())
        try:
            yield
        finally:
            plane.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def _scheduler(state: ServerState, home: Path) -> AsyncIterator[None]:
    """The job scheduler, as a task of the server's event loop."""
    if not state.options.scheduler:
        yield
        return
    from lepton.jobs import Scheduler

    scheduler = Scheduler(
        state.workspace, home, cpu_slots=state.options.cpu_slots, gpu_slots=state.options.gpu_slots
    )
    state.services["scheduler"] = scheduler
    task = asyncio.create_task(scheduler.run())
    try:
        yield
    finally:
        scheduler.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task


_BACKGROUND = (_control_plane, _scheduler)
