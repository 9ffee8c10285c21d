"""``lepton server start``, ``lepton login URL`` and ``lepton logout``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

server_app = typer.Typer(help="Run the team server.", no_args_is_help=True)


@server_app.command("start")
def start(
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but 127.0.0.1 needs TLS or --insecure.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8400,
    db: Annotated[
        str | None, typer.Option(help="Database URL, e.g. postgresql+psycopg://USER@HOST/DB.")
    ] = None,
    artifacts: Annotated[
        str | None, typer.Option(help="Artifact store: a folder or s3://BUCKET/PREFIX.")
    ] = None,
    home: Annotated[str | None, typer.Option(help="Server folder (default: LEPTON_HOME).")] = None,
    tls_cert: Annotated[str | None, typer.Option(help="TLS certificate (PEM).")] = None,
    tls_key: Annotated[str | None, typer.Option(help="TLS private key (PEM).")] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a network-facing bind without TLS.")
    ] = False,
    rate_limit: Annotated[
        float, typer.Option(help="Requests per second allowed per API key (0: no limit).")
    ] = 200.0,
    max_upload_mb: Annotated[int, typer.Option(help="Largest upload accepted, in MiB.")] = 10240,
    cors_origin: Annotated[
        list[str] | None, typer.Option(help="An origin allowed to call the API from a browser.")
    ] = None,
    cpu_slots: Annotated[int, typer.Option(help="CPU slots for jobs running at once.")] = 2,
    gpu_slots: Annotated[int, typer.Option(help="GPU slots for jobs running at once.")] = 0,
) -> None:
    """Run the team server: REST API, deployments' control plane and job scheduler."""
    from lepton.server._app import ServerOptions
    from lepton.server._run import run_server, server_settings

    options = ServerOptions(
        host=host,
        port=port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        insecure=insecure,
        rate_limit=rate_limit,
        max_upload=max_upload_mb << 20,
        cors_origins=tuple(cors_origin or ()),
        cpu_slots=cpu_slots,
        gpu_slots=gpu_slots,
    )
    run_server(server_settings(home, db, artifacts), options, announce=typer.echo)


def login(
    url: Annotated[str, typer.Argument(help="The server, e.g. http://127.0.0.1:8400.")],
    token: Annotated[
        str | None, typer.Option(help="API key (default: LEPTON_TOKEN, or asked for).")
    ] = None,
) -> None:
    """Use the team server at URL from now on (SDK and CLI); the key is saved 0600."""
    from lepton._credentials import token_for
    from lepton.workspace._login import login as save

    token = token or os.environ.get("LEPTON_TOKEN") or token_for(url)
    if not token:
        token = typer.prompt("API key (lp_...)", hide_input=True)
    identity, path = save(url, token)
    roles = ", ".join(f"{role} in {project}" for project, role in identity["roles"].items())
    typer.echo(
        f"Logged in to {url.rstrip('/')} as {identity['user']} ({roles or 'no roles yet'}). "
        f"Saved in {path}."
    )


def logout() -> None:
    """Go back to the embedded store on this machine."""
    from lepton.workspace._login import logout as forget

    typer.echo("Logged out." if forget() else "Not logged in to any server.")
