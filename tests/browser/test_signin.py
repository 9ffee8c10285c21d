"""Signing in and out through the real sign-in page: the password form, the API-key form, a
one-time link; a wrong password is refused with a readable message; signing out ends the
session on the server, so the old cookie opens nothing."""

from __future__ import annotations

from typing import Any

from tests.browser._pages import (
    assert_no_console_errors,
    expect,
    open_page,
    sign_in_with_key,
    sign_in_with_password,
)
from tests.browser._seed import Site

SESSION_COOKIE = "lepton_session"


def session_cookie(page: Any) -> dict[str, Any]:
    cookies = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    assert len(cookies) == 1, page.context.cookies()
    return dict(cookies[0])


def test_sign_in_with_a_password_goes_back_to_the_page_asked_for(
    anonymous: Any, site: Site, console: list[str]
) -> None:
    developer = site.data.users["developer"]
    anonymous.goto("/runs?status=failed")  # not signed in: the sign-in page, with next=
    sign_in_with_password(anonymous, developer.name, developer.password, next_path=None)
    anonymous.wait_for_url("**/runs?status=failed")
    expect(anonymous.locator(".who")).to_have_text(developer.name)
    cookie = session_cookie(anonymous)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax", cookie
    assert_no_console_errors(console, "sign-in with a password")


def test_sign_in_with_an_api_key(anonymous: Any, site: Site) -> None:
    viewer = site.data.users["viewer"]
    sign_in_with_key(anonymous, viewer.key, next_path="/models")
    assert anonymous.url.endswith("/models")
    expect(anonymous.locator(".who")).to_have_text(viewer.name)
    expect(anonymous.get_by_role("button", name="Sign out")).to_be_visible()


def test_a_wrong_password_is_refused_with_a_message(anonymous: Any, site: Site) -> None:
    developer = site.data.users["developer"]
    with anonymous.expect_response(
        lambda r: r.url.endswith("/login") and r.request.method == "POST"
    ) as answer:
        sign_in_with_password(anonymous, developer.name, "not the password at all")
    assert answer.value.status == 401
    expect(anonymous.get_by_role("alert").first).to_contain_text("Wrong user name or password")
    expect(anonymous.get_by_label("User name")).to_have_value(developer.name)  # kept for retry
    assert not [c for c in anonymous.context.cookies() if c["name"] == SESSION_COOKIE]
    expect(anonymous.get_by_role("navigation", name="Main")).to_have_count(0)


def test_a_one_time_sign_in_link_works_once(anonymous: Any, site: Site) -> None:
    code = site.live.state.security.create_signin_code(site.data.users["viewer"].name)
    anonymous.goto(f"/login?code={code}")
    open_page(anonymous, "/")
    expect(anonymous.locator(".who")).to_have_text(site.data.users["viewer"].name)
    anonymous.context.clear_cookies()
    response = anonymous.goto(f"/login?code={code}")
    assert response is not None and response.status == 401
    expect(anonymous.get_by_role("alert").first).to_contain_text("does not work")


def test_sign_out_ends_the_session_on_the_server(anonymous: Any, site: Site) -> None:
    developer = site.data.users["developer"]
    sign_in_with_password(anonymous, developer.name, developer.password)
    anonymous.wait_for_url(site.url + "/")
    cookie = session_cookie(anonymous)
    anonymous.get_by_role("button", name="Sign out").click()
    anonymous.wait_for_url("**/login")
    assert not [c for c in anonymous.context.cookies() if c["name"] == SESSION_COOKIE]

    # the same cookie, sent again, opens nothing: the server ended the session
    anonymous.context.add_cookies([cookie])
    anonymous.goto("/settings")
    assert "/login?next=" in anonymous.url
