"""Headers every answer carries: no framing (clickjacking on the login form), no MIME
sniffing, no referrer (codes and tokens travel in URLs), and no caching.

Caching rule: nothing is stored by a browser or a shared cache (``no-store``) -- pages, JSON
answers (userinfo, introspection, the admin API, their errors too), redirects carrying codes --
except what a view declares cacheable itself: the public documents, discovery and JWKS.
"""

from flask import Flask, g

from .passkey_script import SOURCE as PASSKEYS
from .password_toggle import SOURCE as PASSWORD_TOGGLE

# The scripts allowed are the "show password" button's and the passkeys' (on the pages that have
# them), by their hashes (see password_toggle and passkey_script);
# 'self' for styles, images and fonts: the theme's files, served at /theme/ (idp/theme.py); 'self'
# for the passkeys' script's two JSON steps (connect-src).
CSP = ("default-src 'none'; script-src {scripts}; connect-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src {images}; font-src 'self'; frame-ancestors 'none'; base-uri 'none'")
IMAGES = ("'self'", "data:")


def allow_images_from(origin: str) -> None:
    """Let this page load images from ``origin`` too: a relying party's registered logo, and
    only on the page that shows it (not ``https:`` everywhere)."""
    g.setdefault("image_origins", set()).add(origin)


def csp() -> str:
    images = " ".join([*IMAGES, *sorted(g.get("image_origins", ()))])
    return CSP.format(scripts=f"{PASSWORD_TOGGLE} {PASSKEYS}", images=images)


def add(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cache-Control", "no-store")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", csp())
        headers.setdefault("X-Frame-Options", "DENY")
    return response


def init_app(app: Flask) -> None:
    app.after_request(add)
