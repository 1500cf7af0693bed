"""Which service the citizen is signing in to, as the login, sign-up and recovery pages name it.

The pages carry the id of the waiting authorization request (``rid``); the request names the
client, and the client's registration gives its name, logo, home page and privacy policy.
Templates, the plugins' included, call ``service_for(rid)``: the core offers it to every page.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from flask import Flask

from . import security_headers
from .clients import theme_file_path, web_page
from .oidc import pending
from .oidc.context import provider
from .theme import theme_has, theme_url


@dataclass(frozen=True)
class Service:
    name: str
    logo_uri: str | None
    policy_uri: str | None
    client_uri: str | None


def service_for(rid: str | None) -> Service | None:
    """The service waiting behind ``rid`` in this browser, or None when no service started the flow."""
    client_id = pending.get(rid).get("params", {}).get("client_id")
    client = provider().clients(client_id) if client_id else None
    if client is None:
        return None
    return Service(name=client.name, logo_uri=_shown_logo(client.logo_uri),
                   policy_uri=_link(client.policy_uri), client_uri=_link(client.client_uri))


def _shown_logo(uri: str | None) -> str | None:
    """Only an https logo is shown (checked again here: a row may predate the check), and this
    page's CSP then lets the browser load images from that origin alone.  A logo of the theme
    (``/theme/<file>``) is shown when the theme has that file, from this site."""
    if uri and theme_file_path(uri):
        name = uri.removeprefix("/theme/")
        return theme_url(name) if theme_has(name) else None
    if not uri or not web_page(uri, ("https",)):
        return None
    parsed = urlparse(uri)
    security_headers.allow_images_from(f"https://{parsed.hostname}" + (f":{parsed.port}" if parsed.port else ""))
    return uri


def _link(uri: str | None) -> str | None:
    return uri if uri and web_page(uri, ("http", "https")) else None


def init_app(app: Flask) -> None:
    app.context_processor(lambda: {"service_for": service_for})
