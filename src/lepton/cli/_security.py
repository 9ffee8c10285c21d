"""``lepton users``, ``lepton tokens`` and ``lepton audit``: the admin side of a team server.

Each command is one call to the server named by ``LEPTON_URL`` / ``lepton login`` (the
embedded store has no users: there is nobody to manage).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

from lepton.cli._output import console, print_json, print_table, when

if TYPE_CHECKING:
    from lepton.workspace._remote_http import Transport

users_app = typer.Typer(help="Users of the team server and their roles.", no_args_is_help=True)
tokens_app = typer.Typer(help="API keys (tokens) of the team server.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail of the team server.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Project = Annotated[str, typer.Option(help="The project the role holds in; '*': every project.")]


@contextlib.contextmanager
def _server() -> Iterator[Transport]:
    """The team server of the current settings, or a ConfigError that says how to get one."""
    from lepton.errors import ConfigError
    from lepton.workspace import current_settings
    from lepton.workspace._remote_http import Transport

    settings = current_settings()
    if not settings.url:
        raise ConfigError(
            "These commands manage the users, keys and audit trail of a team server, and no "
            "server is configured (the embedded store has no users). Start one with "
            "`lepton server start`, then `lepton login URL` with its admin key (or set "
            "LEPTON_URL and LEPTON_TOKEN)."
        )
    transport = Transport(settings.url, settings.token)
    try:
        yield transport
    finally:
        transport.close()


def _call(method: str, path: str, **kwargs: Any) -> Any:
    with _server() as server:
        return server.call(method, path, **kwargs)


def _roles(roles: dict[str, str]) -> str:
    return ", ".join(f"{role} on {project}" for project, role in sorted(roles.items())) or "-"


# users --------------------------------------------------------------------------------------------
@users_app.command("create")
def create_user(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, '.', '_', '-').")],
    role: Annotated[
        str | None, typer.Option(help="A first role: viewer, developer or admin.")
    ] = None,
    project: Project = "*",
    email: Annotated[str | None, typer.Option(help="Contact address.")] = None,
    password: Annotated[
        bool, typer.Option("--password", help="Ask for a dashboard password (hidden, twice).")
    ] = False,
    json: Json = False,
) -> None:
    """Create a user; then give them a key with `lepton tokens create --user NAME`, or a
    dashboard password with --password."""
    body = {"name": name, "email": email, "role": role, "project": project}
    # asked first: a weak or mistyped password leaves no user behind without one
    secret = _read_password("Password", confirm=True) if password else None
    with _server() as server:
        user = server.call("POST", "/users", json=body)
        if secret is not None:
            user = server.call("POST", _password_path(name), json={"password": secret})
    if json:
        print_json(user)
        return
    console.print(f"Created user [bold]{user['name']}[/] ({_roles(user['roles'])}).")
    if secret is not None:
        console.print("They can sign in to the dashboard with their name and password.")
    console.print(f"Give them a key with: lepton tokens create --user {user['name']}")


def _password_path(name: str) -> str:
    return f"/users/{quote(name, safe='')}/password"


def _read_password(prompt: str, *, confirm: bool = False, stdin: bool = False) -> str:
    """A password from a hidden prompt (twice with ``confirm``), or one line of stdin."""
    if stdin:
        line = sys.stdin.readline()
        if not line:
            from lepton.errors import InvalidParameterError

            raise InvalidParameterError(
                f"--password-stdin: expected the {prompt.lower()} as a line on standard input, "
                "and there was none."
            )
        value = line.removesuffix("\n").removesuffix("\r")
    else:
        value = str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))
    if confirm:  # a new password: refuse a weak one before anything is sent
        from lepton.security._passwords import check_password_strength

        check_password_strength(value)
    return value


@users_app.command("password")
def set_password(
    name: Annotated[str, typer.Argument(help="The user whose password to set.")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the new password from standard input (first, on a line of its own: "
            "your current one, when you change your own without being an admin).",
        ),
    ] = False,
) -> None:
    """Set a user's dashboard password: an admin anyone's, everyone their own (asks for the
    current one). Their other dashboard sessions end."""
    with _server() as server:
        me = server.call("GET", "/whoami")
        own = name == me["user"] and me["roles"].get("*") != "admin"
        body = {}
        if own:
            body["current_password"] = _read_password("Current password", stdin=password_stdin)
        body["password"] = _read_password("New password", confirm=True, stdin=password_stdin)
        server.call("POST", _password_path(name), json=body)
    console.print(
        f"Set the password of [bold]{name}[/]: they sign in to the dashboard with it "
        "(their other dashboard sessions ended)."
    )


@users_app.command("list")
def list_users(json: Json = False) -> None:
    """Users with their roles."""
    users = _call("GET", "/users")
    if json:
        print_json(users)
        return
    print_table(
        "Users",
        ["name", "roles", "status", "email", "created"],
        [
            (
                u["name"],
                _roles(u["roles"]),
                "disabled" if u["disabled"] else "active",
                u["email"],
                when(u["created_at"]),
            )
            for u in users
        ],
        empty="No users. Create one with: lepton users create NAME --role developer",
    )


@users_app.command("disable")
def disable_user(name: Annotated[str, typer.Argument(help="The user to disable.")]) -> None:
    """Disable a user: every key of theirs stops working at once."""
    _call("POST", f"/users/{quote(name, safe='')}/disable")
    console.print(f"Disabled user [bold]{name}[/]: their keys are refused until it is enabled.")


@users_app.command("enable")
def enable_user(name: Annotated[str, typer.Argument(help="The user to enable.")]) -> None:
    """Enable a disabled user again (their keys that are not revoked or expired work again)."""
    _call("POST", f"/users/{quote(name, safe='')}/enable")
    console.print(f"Enabled user [bold]{name}[/].")


@users_app.command("grant")
def grant(
    name: Annotated[str, typer.Argument(help="The user.")],
    role: Annotated[str, typer.Argument(help="viewer, developer or admin.")],
    project: Project = "*",
) -> None:
    """Set a user's role in a project (replacing the role held there)."""
    path = f"/users/{quote(name, safe='')}/roles/{quote(project, safe='')}"
    user = _call("PUT", path, json={"role": role})
    console.print(f"{user['name']}: {_roles(user['roles'])}")


@users_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The user.")],
    project: Project = "*",
) -> None:
    """Remove the role a user holds in a project."""
    path = f"/users/{quote(name, safe='')}/roles/{quote(project, safe='')}"
    user = _call("DELETE", path)
    console.print(f"{user['name']}: {_roles(user['roles'])}")


# tokens -------------------------------------------------------------------------------------------
@tokens_app.command("create")
def create_token(
    name: Annotated[
        str, typer.Option(help="What the key is for, e.g. 'laptop' or 'ci'.")
    ] = "default",
    expires_days: Annotated[
        float | None, typer.Option("--expires-days", help="Days until it expires (default never).")
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="Whose key (default yours; others: admin).")
    ] = None,
    json: Json = False,
) -> None:
    """Create an API key. It is printed once: store it now."""
    body = {"name": name, "expires_in_days": expires_days, "user": user}
    created = _call("POST", "/tokens", json=body)
    if json:
        print_json(created)
        return
    record = created["record"]
    expiry = f", expires {when(record['expires_at'])}" if record["expires_at"] else ""
    console.print(f"Created key {record['id'][:12]} for [bold]{record['user']}[/]{expiry}:")
    console.print(created["key"], highlight=False, soft_wrap=True)
    console.print(
        "It will not be shown again: store it now (e.g. `lepton login URL --token KEY`, or "
        "LEPTON_TOKEN)."
    )


@tokens_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option(help="Only this user's keys (admin).")] = None,
    json: Json = False,
) -> None:
    """Your API keys (an admin sees everyone's). Keys show only their first characters."""
    keys = _call("GET", "/tokens", params={"user": user} if user else None)
    if json:
        print_json(keys)
        return
    print_table(
        "API keys",
        ["id", "user", "name", "key", "status", "created", "expires", "last used"],
        [
            (
                k["id"][:12],
                k["user"],
                k["name"],
                k["prefix"] + "...",
                k["status"],
                when(k["created_at"]),
                when(k["expires_at"]),
                when(k["last_used_at"]),
            )
            for k in keys
        ],
        empty="No API keys. Create one with: lepton tokens create --name laptop",
    )


@tokens_app.command("revoke")
def revoke_token(
    key_id: Annotated[
        str, typer.Argument(metavar="ID", help="The key's id (or its first 6+ characters).")
    ],
) -> None:
    """Revoke an API key: it is refused from now on."""
    record = _call("DELETE", f"/tokens/{quote(key_id, safe='')}")
    console.print(f"Revoked key {record['id'][:12]} ({record['name']}) of {record['user']}.")


# audit --------------------------------------------------------------------------------------------
@audit_app.command("list")
def list_audit(
    limit: Annotated[int, typer.Option(help="How many entries, newest first.")] = 50,
    actor: Annotated[str | None, typer.Option(help="Only this user ('anonymous': no key).")] = None,
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    outcome: Annotated[str | None, typer.Option(help="ok, denied or failed.")] = None,
    json: Json = False,
) -> None:
    """Audit entries: who did what, from where, and how it ended."""
    filters = {"limit": limit, "actor": actor, "project": project, "outcome": outcome}
    entries = _call("GET", "/audit", params={k: v for k, v in filters.items() if v is not None})
    if json:
        print_json(entries)
        return
    print_table(
        "Audit trail",
        ["#", "when", "actor", "action", "project", "source", "outcome"],
        [
            (
                e["seq"],
                when(e["ts"]),
                e["actor"],
                e["action"],
                e["project"],
                e["source"],
                f"{e['outcome']} ({e['status_code']})",
            )
            for e in entries
        ],
        empty="No audit entries match.",
    )


@audit_app.command("verify")
def verify_audit(json: Json = False) -> None:
    """Check the audit trail's hash chain; exit code 1 when it was tampered with."""
    report = _call("GET", "/audit/verify")
    if json:
        print_json(report)
    elif report["ok"]:
        console.print(f"The audit trail is intact: {report['entries']} entries verified.")
    else:
        console.print(
            f"[bold red]The audit trail was changed behind the server's back[/] "
            f"({report['entries']} entries checked):"
        )
        for problem in report["problems"]:
            console.print(f"  - {problem}", highlight=False)
    if not report["ok"]:
        raise typer.Exit(1)
