"""``lepton secrets set|list|delete`` (through the team server) and ``lepton keys
generate|rotate`` (the master key of encryption at rest, on the server machine)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from lepton.cli._output import console, err_console, print_json, print_table, when

secrets_app = typer.Typer(help="Secrets, injected into deployments and jobs.", no_args_is_help=True)
keys_app = typer.Typer(help="The master key of encryption at rest.", no_args_is_help=True)

ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="Project (default: the current one).")
]


@contextlib.contextmanager
def _server(project: str | None) -> Iterator[tuple[Any, str]]:
    """The transport to the configured team server, and the project (default: the current)."""
    from lepton.errors import ConfigError
    from lepton.workspace._current import current_settings
    from lepton.workspace._remote_http import Transport

    settings = current_settings()
    if not settings.url:
        raise ConfigError(
            "Secrets live on the team server, and no server is configured. Log in with "
            "`lepton login URL` (or set LEPTON_URL and LEPTON_TOKEN), then run this again."
        )
    transport = Transport(settings.url, settings.token)
    try:
        yield transport, project or settings.project
    finally:
        transport.close()


def _path(project: str, name: str | None = None) -> str:
    path = f"/projects/{quote(project, safe='')}/secrets"
    return f"{path}/{quote(name, safe='')}" if name is not None else path


def _read_value(value: str | None) -> str:
    if value is not None:
        return value
    if not sys.stdin.isatty():  # piped: `vault read ... | lepton secrets set NAME`
        return sys.stdin.read().removesuffix("\n")
    return str(typer.prompt("Value", hide_input=True, confirmation_prompt=True))


@secrets_app.command("set")
def set_secret(
    name: Annotated[str, typer.Argument(help="Secret name, used as the environment variable.")],
    value: Annotated[
        str | None,
        typer.Option(
            help="The value (visible in shell history and `ps`: prefer stdin or the prompt)."
        ),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Create or replace a secret (needs the admin role). The value comes from --value, else
    standard input when piped, else a hidden prompt."""
    with _server(project) as (transport, project):
        secret = _read_value(value)
        transport.call("PUT", _path(project, name), json={"value": secret})
    console.print(f"Set secret [bold]{name}[/] of project {project}.")


@secrets_app.command("list")
def list_secrets(
    project: ProjectOption = None,
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Secret names of a project, with when they were set (never their values)."""
    with _server(project) as (transport, project):
        found = transport.call("GET", _path(project))
    if json:
        print_json(found)
        return
    print_table(
        f"Secrets of {project}",
        ["name", "created", "updated"],
        [(s["name"], when(s["created_at"]), when(s["updated_at"])) for s in found],
        empty=f"No secrets in {project}. Set one with: lepton secrets set NAME --project {project}",
    )


@secrets_app.command("delete")
def delete_secret(
    name: Annotated[str, typer.Argument(help="Secret name.")],
    project: ProjectOption = None,
) -> None:
    """Delete a secret (needs the admin role). Running replicas keep the value they started
    with until they restart."""
    with _server(project) as (transport, project):
        transport.call("DELETE", _path(project, name))
    console.print(f"Deleted secret [bold]{name}[/] of project {project}.")


@keys_app.command("generate")
def generate(
    output: Annotated[
        Path | None,
        typer.Option(help="Write the key to this file (mode 0600, never over an existing one)."),
    ] = None,
) -> None:
    """Generate a new master key: printed to stdout, or written to --output."""
    from lepton.security._crypto import MasterKey, create_master_key_file

    if output is None:
        key = MasterKey.generate()
        sys.stdout.write(key.to_text() + "\n")
        err_console.print(
            f"Master key {key.id}. Keep it safe: data encrypted with it is lost without it."
        )
        return
    key = create_master_key_file(output)
    console.print(f"Wrote master key [bold]{key.id}[/] to {output} (mode 0600).")


@keys_app.command("rotate")
def rotate(
    new_key_file: Annotated[
        Path, typer.Option(help="File holding the new master key (from `lepton keys generate`).")
    ],
) -> None:
    """Re-wrap every data key and secret with a new master key, on the server machine.

    Stop the server first. The current key comes from LEPTON_MASTER_KEY, LEPTON_MASTER_KEY_FILE
    or <home>/master.key. Payloads are not rewritten. Afterwards, start the server with the new
    key (replace <home>/master.key with it, or point LEPTON_MASTER_KEY_FILE at it) and keep the
    old key until you have checked that the server reads its data.
    """
    from lepton.deployments._daemon import running_pid
    from lepton.errors import ConfigError
    from lepton.security._crypto import MasterKey, load_master_key, rotate_master_key
    from lepton.store import MetadataStore
    from lepton.workspace._current import current_settings

    settings = current_settings()
    current = load_master_key(settings.home)
    if current is None:
        raise ConfigError(
            f"No current master key is configured for {settings.home} (LEPTON_MASTER_KEY, "
            "LEPTON_MASTER_KEY_FILE or <home>/master.key): there is nothing to rotate from."
        )
    pid = running_pid(settings.home)
    if pid is not None:
        raise ConfigError(
            f"A server or control plane is running for {settings.home} (pid {pid}); it would "
            "keep wrapping new objects with the old key. Stop it, rotate, then start it with "
            "the new key."
        )
    try:
        text = new_key_file.expanduser().read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Cannot read the new key file {new_key_file} ({exc}). Create one with "
            "`lepton keys generate --output FILE`."
        ) from None
    new = MasterKey.from_text(text, str(new_key_file))
    meta = MetadataStore(settings.db_url)
    try:
        count = rotate_master_key(meta, current, new)
    finally:
        meta.close()
    console.print(
        f"Re-wrapped {count} data keys and secrets from master key {current.id} to {new.id}.\n"
        f"Now start the server with the new key: replace {current.source or 'the current key'} "
        f"with {new_key_file}, or set LEPTON_MASTER_KEY_FILE={new_key_file}. The old key no "
        "longer opens anything written from now on; keep it only as long as backups need it."
    )
