"""``lepton serve``: one inference server in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    model: Annotated[
        str, typer.Argument(help="A bundle path, or a registered model NAME[:VERSION|@ALIAS].")
    ],
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[
        str, typer.Option(help="Address to bind (127.0.0.1 keeps it on this machine).")
    ] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    public: Annotated[bool, typer.Option("--public", help="Serve without an API key.")] = False,
    expose: Annotated[
        bool, typer.Option("--expose", help="Allow binding beyond 127.0.0.1.")
    ] = False,
    max_batch_size: Annotated[int, typer.Option(help="Most rows per model call.")] = 256,
    max_wait_ms: Annotated[
        float, typer.Option(help="Hold a batch open this long to gather more (0: greedy).")
    ] = 0.0,
) -> None:
    """Serve a model over HTTP: POST /v1/predict, /docs, /metrics, /healthz, /readyz."""
    from lepton.serving import ServerOptions
    from lepton.serving import serve as run_server

    run_server(
        model,
        host=host,
        port=port,
        workers=workers,
        public=public,
        expose=expose,
        options=ServerOptions(max_batch_size=max_batch_size, max_wait_ms=max_wait_ms),
        announce=lambda text: typer.echo(text, err=False),
    )
