"""Forms posted over https come from the provider's own pages: the ``Origin`` header says so.

Flask-WTF's own check for https (``WTF_CSRF_SSL_STRICT``) reads the ``Referer`` header, which our
pages ask browsers not to send (``Referrer-Policy: no-referrer``: a reset link's token must not
leave in it), so every form posted over https would be refused as expired.  It is switched off,
and this check does its job: a POST carrying a CSRF token (a page's form or a page's script) over
https must name the issuer's origin (or the host it was sent to) in ``Origin`` (every current
browser sends it with a POST), or, failing that, in ``Referer``; with neither, or another site's,
it is refused like an expired form.
The CSRF token itself is still checked by Flask-WTF.  Protocol requests (token, PAR, userinfo,
back-channel), which carry no CSRF token, are not concerned.
"""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFError

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _origin(url: str | None) -> str | None:
    if not url or url == "null":
        return None
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}" if parsed.scheme and parsed.netloc else None


def check() -> None:
    if request.method not in UNSAFE or not request.is_secure:
        return
    carries_token = "X-CSRFToken" in request.headers or (
        request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
        and "csrf_token" in request.form)
    if not carries_token:
        return
    expected = {_origin(current_app.config["IDP_ISSUER"]), _origin(request.host_url)}  # the page's own host too
    seen = _origin(request.headers.get("Origin")) or _origin(request.headers.get("Referer"))
    if seen is None or seen not in expected:
        raise CSRFError("The form was not posted from one of this provider's pages.")


def init_app(app: Flask) -> None:
    app.config["WTF_CSRF_SSL_STRICT"] = False
    app.before_request(check)
