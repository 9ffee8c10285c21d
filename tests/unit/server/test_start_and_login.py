"""``lepton server start`` refuses unsafe binds; ``lepton login`` / ``lepton.connect`` choose
the server the SDK talks to, with credentials kept 0600."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import lepton
from lepton.cli._app import app
from lepton.errors import AuthenticationError, ConfigError, InvalidParameterError
from lepton.server import ServerOptions
from lepton.server._run import check_binding, is_loopback, local_url
from lepton.workspace import current_settings, get_workspace, reset


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_binds_need_nothing(host: str) -> None:
    assert is_loopback(host)
    assert check_binding(ServerOptions(host=host)) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "lepton.example"])
def test_network_binds_need_tls_or_insecure(host: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="without TLS would send API keys in clear text"):
        check_binding(ServerOptions(host=host))
    warning = check_binding(ServerOptions(host=host, insecure=True))
    assert warning and warning.startswith("WARNING") and "--insecure" in warning
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    assert check_binding(ServerOptions(host=host, tls_cert=str(cert), tls_key=str(key))) is None


def test_tls_needs_both_files_and_they_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="both --tls-cert and --tls-key"):
        check_binding(ServerOptions(tls_cert=str(tmp_path / "cert.pem")))
    with pytest.raises(ConfigError, match="does not exist"):
        check_binding(ServerOptions(tls_cert=str(tmp_path / "c"), tls_key=str(tmp_path / "k")))


def test_local_url_of_a_wildcard_bind_is_loopback() -> None:
    assert local_url(ServerOptions(host="0.0.0.0", port=9000)) == "http://127.0.0.1:9000"


def test_server_start_refuses_a_public_bind_without_tls() -> None:
    result = CliRunner().invoke(app, ["server", "start", "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)


def test_login_saves_a_0600_file_and_the_sdk_follows_it(server: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["login", server.url, "--token", server.admin_token], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "Logged in" in result.output and "admin" in result.output
    path = tmp_path / "credentials.json"  # LEPTON_CREDENTIALS of every test
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["current"] == server.url
    reset()
    assert current_settings().url == server.url
    lepton.create_project("after-login")
    assert [p.name for p in server.state.workspace.list_projects()] == ["after-login"]

    result = CliRunner().invoke(app, ["logout"], catch_exceptions=False)
    assert "Logged out" in result.output
    reset()
    assert current_settings().url is None
    assert [p.name for p in get_workspace().list_projects()] == []  # the embedded store again


def test_login_with_a_wrong_key_saves_nothing(server: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["login", server.url, "--token", "lp_wrong"])
    assert isinstance(result.exception, AuthenticationError)
    assert not (tmp_path / "credentials.json").exists()


def test_connect_switches_this_process(server: Any) -> None:
    lepton.connect(server.url, server.admin_token)
    lepton.create_project("connected")
    assert [p.name for p in server.state.workspace.list_projects()] == ["connected"]
    lepton.connect(None)
    assert get_workspace().list_projects() == []


def test_connect_checks_the_url() -> None:
    with pytest.raises(InvalidParameterError, match="is not a server URL"):
        lepton.connect("ftp://example")


def test_an_empty_lepton_url_means_the_embedded_store(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lepton._credentials import save_login

    save_login(server.url, server.admin_token)
    assert current_settings().url == server.url
    monkeypatch.setenv("LEPTON_URL", "")
    assert current_settings().url is None


def test_login_to_a_server_that_is_not_there_says_so(tmp_path: Path) -> None:
    from tests.live_server import free_port

    from lepton.errors import ServerUnavailableError

    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["login", url, "--token", "lp_x"])
    assert isinstance(result.exception, ServerUnavailableError)
    assert "Could not reach the Lepton server" in str(result.exception)
    assert not (tmp_path / "credentials.json").exists()
