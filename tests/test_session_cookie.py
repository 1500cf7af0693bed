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
