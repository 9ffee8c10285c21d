"""Signing in to the dashboard through a real server: the sign-in form (password or API key)
with its login CSRF token, one-time sign-in links, the session cookie's flags, the CSRF token
that API changes need with a cookie, signing out, the audit trail of every attempt, the
password API and ``lepton users password``."""

from __future__ import annotations

import html
import re
import time
import uuid
from collections.abc import Iterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from tests.live_server import LiveServer, launch
from typer.testing import CliRunner, Result

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the whole module (starting one per test would take most of its time):
    each test makes users of its own, so that none sees another's sessions or rate limits."""
    live = launch(tmp_path_factory.mktemp("signin") / "home", control_plane=False)
    yield live
    live.stop()


@pytest.fixture
def web(server: LiveServer) -> Iterator[httpx.Client]:
    """A client of the server's pages that keeps no cookies: each request sends its own."""
    keep_none = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
    with httpx.Client(
        base_url=server.url, timeout=30, follow_redirects=False, cookies=keep_none
    ) as client:
        yield client


@pytest.fixture
def name() -> str:
    """A user name of this test's own."""
    return f"ada-{uuid.uuid4().hex[:8]}"


def cookies_of(response: httpx.Response) -> dict[str, Any]:
    """The cookies a response sets, with their attributes (``Morsel``s by name)."""
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return dict(jar)


def sign_in_form(web: httpx.Client, next_path: str = "/", **headers: str) -> dict[str, str]:
    """GET /login: the form's hidden login CSRF token and the matching cookie header."""
    page = web.get("/login", params={"next": next_path}, headers=headers)
    assert page.status_code == 200, page.text
    field = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    cookie = cookies_of(page)["lepton_login"]
    assert field and field.group(1) == cookie.value
    return {"login_csrf": field.group(1), "cookie": f"lepton_login={cookie.value}"}


def post_sign_in(
    web: httpx.Client, fields: dict[str, str], next_path: str = "/", **headers: str
) -> httpx.Response:
    """POST /login the way the browser does: the form's token in the field and the cookie."""
    form = sign_in_form(web, next_path, **headers)
    body = {"login_csrf": form["login_csrf"], "next": next_path, **fields}
    return web.post("/login", data=body, headers={"cookie": form["cookie"], **headers})


def session_cookie(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return f"lepton_session={cookies_of(response)['lepton_session'].value}"


def csrf_of_page(web: httpx.Client, cookie: str) -> str:
    page = web.get("/", headers={"cookie": cookie})
    assert page.status_code == 200, page.text
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]{64})">', page.text)
    assert found, page.text[:500]
    return found.group(1)


def user_with_password(server: LiveServer, name: str, role: str | None = "viewer") -> str:
    server.state.security.create_user(name, role=role, project="proj")
    server.state.security.set_password(name, PASSWORD)
    return name


def audited(server: LiveServer, predicate: Any, count: int = 1) -> list[Any]:
    """Entries matching ``predicate``, once ``count`` are there (each is written just after its
    response went out)."""
    deadline = time.monotonic() + 30
    while True:
        entries = [e for e in server.state.audit.list(limit=10_000) if predicate(e)]
        if len(entries) >= count:
            return entries
        assert time.monotonic() < deadline, f"fewer than {count} audit entries: {entries}"
        time.sleep(0.02)


# signing in ---------------------------------------------------------------------------------------
def test_the_sign_in_page_offers_a_password_and_a_key(web: httpx.Client) -> None:
    page = web.get("/login", params={"next": "/runs?project=p"})
    assert page.status_code == 200
    assert "<h1>Sign in to Lepton</h1>" in page.text
    assert 'data-testid="password-form"' in page.text and 'data-testid="key-form"' in page.text
    assert "Sign in with a password" in page.text and "Sign in with an API key" in page.text
    assert 'value="/runs?project=p"' in page.text  # next is carried along
    assert 'aria-label="Main"' not in page.text  # no menu for nobody
    assert "default-src 'self'" in page.headers["content-security-policy"]
    login = cookies_of(page)["lepton_login"]
    assert login["httponly"] and login["samesite"].lower() == "strict"
    assert login["path"] == "/login" and 0 < int(login["max-age"]) <= 3600


def test_sign_in_with_a_key_sets_a_safe_session_cookie(
    server: LiveServer, web: httpx.Client
) -> None:
    answer = post_sign_in(web, {"key": server.admin_token}, next_path="/runs")
    assert answer.status_code == 303 and answer.headers["location"] == "/runs"
    cookie = cookies_of(answer)["lepton_session"]
    assert cookie["httponly"] and cookie["samesite"].lower() == "lax" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == 12 * 3600 and not cookie["secure"]  # plain http here
    assert server.admin_token not in cookie.value
    page = web.get("/", headers={"cookie": session_cookie(answer)})
    assert page.status_code == 200
    assert '<span class="who" title="Signed in">admin</span>' in page.text


def test_sign_in_with_a_password(server: LiveServer, web: httpx.Client, name: str) -> None:
    user_with_password(server, name)
    answer = post_sign_in(web, {"user": name, "password": PASSWORD})
    assert answer.headers["location"] == "/"
    page = web.get("/", headers={"cookie": session_cookie(answer)})
    assert f'<span class="who" title="Signed in">{name}</span>' in page.text


def test_the_cookies_are_secure_over_https(server: LiveServer, web: httpx.Client) -> None:
    """Behind a TLS proxy (X-Forwarded-Proto from a trusted address) the cookies are Secure."""
    https = {"x-forwarded-proto": "https"}
    assert cookies_of(web.get("/login", headers=https))["lepton_login"]["secure"]
    answer = post_sign_in(web, {"key": server.admin_token}, **https)
    assert cookies_of(answer)["lepton_session"]["secure"]


def test_a_wrong_password_renders_the_form_again_without_a_cookie(
    server: LiveServer, web: httpx.Client, name: str
) -> None:
    user_with_password(server, name)
    for who in (name, "nobody-" + name):  # a wrong password, an unknown user: the same answer
        answer = post_sign_in(web, {"user": who, "password": "not the password"})
        assert answer.status_code == 401
        assert "Wrong user name or password" in answer.text
        assert "lepton_session" not in cookies_of(answer)
        assert f'value="{who}"' in answer.text  # the name is kept, the password is not
        assert "not the password" not in answer.text
    bad_key = post_sign_in(web, {"key": "lp_" + "x" * 43})
    assert bad_key.status_code == 401 and "The API key is not valid" in bad_key.text
    empty = post_sign_in(web, {"user": name})
    assert empty.status_code == 422 and "Enter your user name and password" in empty.text


def test_a_user_without_a_password_is_told_how_to_get_one(
    server: LiveServer, web: httpx.Client, name: str
) -> None:
    server.state.security.create_user(name)
    answer = post_sign_in(web, {"user": name, "password": PASSWORD})
    assert answer.status_code == 401 and f"lepton users password {name}" in answer.text


def test_sign_in_without_the_login_csrf_token_is_refused(
    server: LiveServer, web: httpx.Client
) -> None:
    form = sign_in_form(web)
    fields = {"key": server.admin_token, "next": "/"}
    for data, cookie in (
        (fields, form["cookie"]),  # no field
        ({**fields, "login_csrf": form["login_csrf"]}, ""),  # no cookie: another site's form
        ({**fields, "login_csrf": "forged"}, form["cookie"]),
    ):
        answer = web.post("/login", data=data, headers={"cookie": cookie} if cookie else {})
        assert answer.status_code == 403, answer.text
        assert "was not sent from this server&#39;s sign-in page" in answer.text
        assert "lepton_session" not in cookies_of(answer)
    # anyone may post here: a few short fields, and never a file to store
    upload = web.post(
        "/login",
        data={**fields, "login_csrf": form["login_csrf"]},
        files={"big": ("big.bin", b"x" * 100_000)},
        headers={"cookie": form["cookie"]},
    )
    assert upload.status_code == 400 and "lepton_session" not in cookies_of(upload)


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "runs"],
)
def test_next_never_leaves_the_server(server: LiveServer, web: httpx.Client, target: str) -> None:
    answer = post_sign_in(web, {"key": server.admin_token}, next_path=target)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    page = web.get("/login", params={"next": target})
    assert 'name="next" value="/"' in page.text


def test_the_sign_in_page_sends_a_signed_in_user_on(server: LiveServer, web: httpx.Client) -> None:
    cookie = session_cookie(post_sign_in(web, {"key": server.admin_token}))
    answer = web.get("/login", params={"next": "/models"}, headers={"cookie": cookie})
    assert answer.status_code == 303 and answer.headers["location"] == "/models"


def test_password_tries_are_rate_limited(server: LiveServer, web: httpx.Client, name: str) -> None:
    user_with_password(server, name)
    form = sign_in_form(web)  # one form, posted again and again (as a script would)
    statuses = [
        web.post(
            "/login",
            data={"login_csrf": form["login_csrf"], "user": name, "password": f"guess {i}"},
            headers={"cookie": form["cookie"]},
        ).status_code
        for i in range(11)
    ]
    assert statuses == [401] * 10 + [429]
    limited = post_sign_in(web, {"user": name, "password": PASSWORD})  # even the right one
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert f"Too many password tries for user '{name}'" in html.unescape(limited.text)
    assert "lepton_session" not in cookies_of(limited)
    # another user, or an API key, is not held up
    other = user_with_password(server, "other-" + name)
    assert post_sign_in(web, {"user": other, "password": PASSWORD}).status_code == 303
    assert post_sign_in(web, {"key": server.admin_token}).status_code == 303


# sign-in links ------------------------------------------------------------------------------------
def test_a_sign_in_link_works_once(server: LiveServer, web: httpx.Client) -> None:
    code = server.state.security.create_signin_code("admin")
    answer = web.get("/login", params={"code": code, "next": "/jobs"})
    assert answer.status_code == 303 and answer.headers["location"] == "/jobs"
    page = web.get("/", headers={"cookie": session_cookie(answer)})
    assert '<span class="who" title="Signed in">admin</span>' in page.text
    again = web.get("/login", params={"code": code})
    assert again.status_code == 401 and "it was used already" in again.text
    assert "lepton_session" not in cookies_of(again)
    assert 'data-testid="password-form"' in again.text  # and the forms to sign in otherwise


# the session cookie on the API --------------------------------------------------------------------
def test_api_changes_with_the_cookie_need_the_csrf_token(
    server: LiveServer, web: httpx.Client, name: str
) -> None:
    answer = post_sign_in(web, {"key": server.admin_token})
    cookie = session_cookie(answer)
    csrf = csrf_of_page(web, cookie)
    api = {"cookie": cookie}
    whoami = web.get("/api/v1/whoami", headers=api).json()
    assert whoami["user"] == "admin" and whoami["key_id"].startswith("session:")
    server.state.security.create_user(name)
    changes = [
        ("POST", "/api/v1/tokens", {"json": {"name": "from-the-page"}}),
        ("PUT", f"/api/v1/users/{name}/roles/proj", {"json": {"role": "viewer"}}),
        ("DELETE", f"/api/v1/users/{name}/roles/proj", {}),
    ]
    for method, path, body in changes:
        for wrong in ({}, {"x-csrf-token": "0" * 64}):
            refused = web.request(method, path, headers={**api, **wrong}, **body)
            assert refused.status_code == 403, (method, path, refused.text)
            assert "missing or wrong CSRF token" in refused.json()["error"]["message"]
        done = web.request(method, path, headers={**api, "x-csrf-token": csrf}, **body)
        assert done.status_code < 300, (method, path, done.text)
    assert server.state.security.get_user(name).roles == {}
    # an API key needs no CSRF token, and wins over a cookie sent alongside
    keyed = {"authorization": f"Bearer {server.admin_token}", "cookie": "lepton_session=junk"}
    assert web.post("/api/v1/tokens", json={"name": "key"}, headers=keyed).status_code == 201


# signing out --------------------------------------------------------------------------------------
def test_sign_out_ends_the_session(server: LiveServer, web: httpx.Client) -> None:
    cookie = session_cookie(post_sign_in(web, {"key": server.admin_token}))
    csrf = csrf_of_page(web, cookie)
    forged = web.post("/logout", data={"csrf": "0" * 64}, headers={"cookie": cookie})
    assert forged.status_code == 403 and "Reload the page" in forged.text
    assert web.get("/", headers={"cookie": cookie}).status_code == 200  # still signed in
    out = web.post("/logout", data={"csrf": csrf}, headers={"cookie": cookie})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    cleared = cookies_of(out)["lepton_session"]
    assert cleared.value == "" and int(cleared["max-age"]) == 0
    stale = web.get("/runs", headers={"cookie": cookie})
    assert stale.status_code == 303 and stale.headers["location"] == "/login?next=%2Fruns"
    assert web.get("/api/v1/whoami", headers={"cookie": cookie}).status_code == 401
    # signing out again (or with no session) just goes to the sign-in page
    assert web.post("/logout", data={}, headers={"cookie": cookie}).status_code == 303


def test_a_disabled_users_session_stops_working(
    server: LiveServer, web: httpx.Client, name: str
) -> None:
    user_with_password(server, name)
    cookie = session_cookie(post_sign_in(web, {"user": name, "password": PASSWORD}))
    server.state.security.set_disabled(name)
    assert web.get("/", headers={"cookie": cookie}).status_code == 303
    refused = web.get("/api/v1/whoami", headers={"cookie": cookie})
    assert refused.status_code == 401 and f"User '{name}' is disabled" in refused.text
    answer = post_sign_in(web, {"user": name, "password": PASSWORD})
    assert answer.status_code == 401
    assert f"User '{name}' is disabled" in html.unescape(answer.text)


# the audit trail ----------------------------------------------------------------------------------
def test_every_sign_in_and_sign_out_is_audited_without_passwords(
    server: LiveServer, web: httpx.Client, name: str
) -> None:
    audit = server.state.audit
    time.sleep(0.2)  # the entries of the tests before are written
    before = max((e.seq for e in audit.list(limit=1)), default=0)
    user_with_password(server, name)
    post_sign_in(web, {"user": name, "password": "a wrong password here"})
    cookie = session_cookie(post_sign_in(web, {"user": name, "password": PASSWORD}))
    web.post("/logout", data={"csrf": csrf_of_page(web, cookie)}, headers={"cookie": cookie})
    code = server.state.security.create_signin_code(name)
    web.get("/login", params={"code": code})
    web.get("/login", params={"code": code})  # used already
    admin = {"authorization": f"Bearer {server.admin_token}"}
    reset = {"password": "another long password"}
    url = f"/api/v1/users/{name}/password"
    assert web.post(url, json=reset, headers=admin).status_code == 200

    entries = sorted(audited(server, lambda e: e.seq > before, 6), key=lambda e: e.seq)
    summary = [(e.action, e.actor, e.outcome, e.status_code, e.details) for e in entries]
    tried = {"method": "password", "user": name}
    assert summary == [
        ("POST /login", "anonymous", "denied", 401, tried),
        ("POST /login", name, "ok", 303, tried),
        ("POST /logout", name, "ok", 303, {}),
        ("GET /login", name, "ok", 303, {"method": "code"}),
        ("GET /login", "anonymous", "denied", 401, {"method": "code"}),
        ("POST /users/{name}/password", "admin", "ok", 200, {"user": name}),
    ]
    assert [e.target for e in entries][:5] == ["/login", "/login", "/logout", "/login", "/login"]
    trail = str([e.to_dict() for e in audit.list(limit=10_000)])
    for secret in (PASSWORD, "a wrong password here", "another long password", code):
        assert secret not in trail
    assert audit.verify().ok


# the password API and CLI -------------------------------------------------------------------------
def test_who_may_set_a_password(server: LiveServer, web: httpx.Client, name: str) -> None:
    def as_(key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}

    own = server.make_token("developer", "proj", name=name)
    project_admin = server.make_token("admin", "proj", name="admin-of-proj-" + name)
    url = f"/api/v1/users/{name}/password"
    new = {"password": PASSWORD}
    first = web.post(url, json={**new, "current_password": "x"}, headers=as_(own))
    assert first.status_code == 403 and "an admin sets the first one" in first.text
    refused = web.post(url, json=new, headers=as_(project_admin))
    assert refused.status_code == 403 and "needs the 'admin' role on this server" in refused.text
    weak = web.post(url, json={"password": "short"}, headers=as_(server.admin_token))
    assert weak.status_code == 422 and "at least 10" in weak.text
    done = web.post(url, json=new, headers=as_(server.admin_token))
    assert done.status_code == 200 and done.json()["name"] == name
    assert "password" not in str(done.json()).lower()
    # one's own, with the current one
    change = {"password": "my own new password"}
    missing = web.post(url, json=change, headers=as_(own))
    assert missing.status_code == 422 and "also send the current one" in missing.text
    wrong = web.post(url, json={**change, "current_password": "nope"}, headers=as_(own))
    assert wrong.status_code == 403 and "current password is wrong" in wrong.text
    right = web.post(url, json={**change, "current_password": PASSWORD}, headers=as_(own))
    assert right.status_code == 200
    assert server.state.security.sign_in_with_password(name, "my own new password")


def cli(server: LiveServer, *args: str, input: str = "", token: str = "") -> Result:
    from lepton.cli._app import app

    env = {
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "LEPTON_URL": server.url,
        "LEPTON_TOKEN": token or server.admin_token,
    }
    return CliRunner().invoke(app, list(args), input=input, env=env)


def test_the_password_cli(server: LiveServer, name: str) -> None:
    security = server.state.security
    created = cli(
        server, "users", "create", name, "--role", "viewer", "--password", input=f"{PASSWORD}\n" * 2
    )
    assert created.exit_code == 0, created.output
    assert f"Created user {name}" in created.output and PASSWORD not in created.output
    assert security.sign_in_with_password(name, PASSWORD).principal.name == name

    weak = cli(server, "users", "create", "weak-" + name, "--password", input="short\nshort\n")
    assert weak.exit_code == 1 and "too short" in str(weak.exception)
    assert "weak-" + name not in [u.name for u in security.list_users()]  # nobody half-made

    reset = cli(server, "users", "password", name, "--password-stdin", input="an admin's reset\n")
    assert reset.exit_code == 0, reset.output
    assert f"Set the password of {name}" in reset.output
    assert security.sign_in_with_password(name, "an admin's reset")

    # one's own: the current password first, then the new one
    _, key = security.create_key(name)
    stdin = "an admin's reset\nmy very own password\n"
    own = cli(server, "users", "password", name, "--password-stdin", input=stdin, token=key)
    assert own.exit_code == 0, own.output
    assert security.sign_in_with_password(name, "my very own password")
    prompts = "not it\na brand new password\na brand new password\n"  # current, new, again
    wrong = cli(server, "users", "password", name, input=prompts, token=key)
    assert wrong.exit_code == 1 and "current password is wrong" in str(wrong.exception)
    assert "Current password" in wrong.output and "not it" not in wrong.output
    others = cli(
        server, "users", "password", "admin", "--password-stdin", input=f"{PASSWORD}\n", token=key
    )
    assert others.exit_code == 1 and "needs the 'admin' role" in str(others.exception)
    assert "--password-stdin" in cli(server, "users", "password", "--help").output
