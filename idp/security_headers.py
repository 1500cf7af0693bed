"""Headers every answer carries: no framing (clickjacking on the login form), no MIME
sniffing, no referrer (codes and tokens travel in URLs), and no caching.

Caching rule: nothing is stored by a browser or a shared cache (``no-store``) -- pages, JSON
answers (userinfo, introspection, the admin API, their errors too), redirects carrying codes --
except what a view declares cacheable itself: the public documents, discovery and JWKS.
"""

from flask import Flask

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"


def add(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cache-Control", "no-store")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
    return response


def init_app(app: Flask) -> None:
    app.after_request(add)
