"""The login session's cookie: HttpOnly and SameSite=Lax always, Secure whenever the issuer is
https (so it never travels in clear), and not Secure on http://localhost (development would break)."""

from __future__ import annotations

import pytest

from helpers import csrf_token, login, make_user


def session_cookie(response) -> str:
    [header] = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("idp_session=")]
    return header


def https_browser(app, issuer: str):
    """A browser speaking https to the issuer's host."""
    browser = app.test_client()
    browser.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": issuer.split("://", 1)[1]})
    return browser


def attributes(header: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}


@pytest.mark.parametrize("issuer", ["https://sesame.example.fr", "https://127.0.0.1:8443"])
def test_under_an_https_issuer_the_session_cookie_is_secure(build_app, db, issuer):
    app = build_app(IDP_ISSUER=issuer)
    make_user(db)

    signed_in = login(https_browser(app, issuer))

    assert signed_in.status_code == 303, signed_in.data
    assert {"secure", "httponly", "samesite"} <= attributes(session_cookie(signed_in))
    assert "samesite=lax" in session_cookie(signed_in).lower()


def test_under_http_localhost_the_session_cookie_is_not_secure(build_app, db):
    app = build_app(IDP_ISSUER="http://localhost:5000")
    make_user(db)

    signed_in = login(app.test_client())

    assert signed_in.status_code == 303, signed_in.data
    assert "secure" not in attributes(session_cookie(signed_in))
    assert "httponly" in attributes(session_cookie(signed_in))


def test_signing_out_under_https_clears_the_cookie_with_the_same_flags(build_app, db):
    app = build_app(IDP_ISSUER="https://sesame.example.fr")
    make_user(db)
    browser = https_browser(app, "https://sesame.example.fr")
    assert login(browser).status_code == 303
    page = browser.get("/")

    signed_out = browser.post("/logout", data={"csrf_token": csrf_token(page.data)})

    cleared = session_cookie(signed_out)
    assert "expires=thu, 01 jan 1970" in cleared.lower() or "max-age=0" in cleared.lower()
    assert "secure" in attributes(cleared)


def test_a_slow_request_of_the_page_cannot_undo_the_sign_in(app, db):
    """The login page's script asks for passkey options as the page opens.  On a busy server that
    request may read the page's session, then answer after the sign-in's answer: it must not set the
    browser's cookie back to the session the sign-in ended (found as "the sign-in did not succeed" in
    loaded browser tests)."""
    from flask import request

    make_user(db)
    browser = app.test_client()
    browser.get("/login")
    before = browser.get_cookie("idp_session").value
    with app.test_request_context("/login/passkey/options", method="POST",
                                  headers={"Cookie": f"idp_session={before}"}):
        loaded = app.session_interface.open_session(app, request)  # the script's request reads...
        assert login(browser).status_code == 303  # ...the sign-in answers first...
        loaded["passkey_ceremony"] = "handle"  # ...then the script's request saves its change
        response = app.response_class()
        app.session_interface.save_session(app, loaded, response)
        assert not response.headers.getlist("Set-Cookie")
    assert browser.get("/").status_code == 200  # still signed in


def test_a_request_that_raced_a_sign_out_does_not_bring_the_session_back(app, db):
    """A request that read a signed-in session before the sign-out ended it, and saves it after, writes
    nothing: the old cookie stays worthless."""
    from flask import request

    make_user(db)
    browser = app.test_client()
    assert login(browser).status_code == 303
    stolen = browser.get_cookie("idp_session").value
    with app.test_request_context("/", headers={"Cookie": f"idp_session={stolen}"}):
        loaded = app.session_interface.open_session(app, request)  # read before the sign-out...
        assert loaded.get("user_id")
        assert browser.post("/logout", data={"csrf_token": csrf_token(browser.get("/").data)}).status_code == 200
        loaded["seen"] = 0  # ...changed, and saved after it
        response = app.response_class()
        app.session_interface.save_session(app, loaded, response)
        assert not response.headers.getlist("Set-Cookie")
    thief = app.test_client()
    thief.set_cookie("idp_session", stolen)
    assert thief.get("/").status_code == 302 and thief.get("/").location.endswith("/login")
