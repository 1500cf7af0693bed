"""The theme: a region's look and texts, without touching code.

``IDP_THEME_DIR`` is a folder laid out like the bundled ``templates/``. Its templates are
searched first and the bundled ones fill in, so a region overrides ``base.html``, one page
(``pages/fr/mentions-legales.html``) or one mail and nothing else. Its ``static/`` files (a
stylesheet, a logo, a font) are served at ``/theme/<path>``, again theme first then bundled.
Templates see ``brand`` (the name, the RGAA status), ``theme_url()`` and ``theme_has()``.
A region that changes only colours ships ``static/brand.css`` (custom properties), linked
after the bundled stylesheet; one that replaces ``static/theme.css`` takes over every rule.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, send_from_directory, url_for
from flask_babel import lazy_gettext as _l
from jinja2 import ChoiceLoader, FileSystemLoader

from .config import BUNDLED_THEME

bp = Blueprint("theme", __name__)
CACHE_SECONDS = 86400  # the URLs carry a version, so a changed file is fetched again at once
# A theme file opened on its own (an SVG logo) runs no script and loads nothing.
FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
STATUS = {"none": _l("non-compliant"), "partial": _l("partially compliant"), "full": _l("fully compliant")}


def folders(app: Flask) -> list[Path]:
    """Where templates are looked for, first match wins."""
    theme = app.config["IDP_THEME_DIR"]
    return [Path(theme), BUNDLED_THEME] if theme else [BUNDLED_THEME]


def static_file(name: str) -> Path | None:
    """The theme's file ``name`` under a ``static/`` folder, theme first; None when absent or unsafe."""
    parts = name.split("/")
    if any(not part or part.startswith(".") or "\\" in part for part in parts):
        return None  # no "..", no hidden file, no Windows separator
    for folder in folders(current_app):
        root = (folder / "static").resolve()
        try:
            path = (root / name).resolve()
            if path.is_relative_to(root) and path.is_file():
                return path
        except (OSError, ValueError):  # a name too long for the file system, a NUL byte
            return None
    return None


def theme_has(name: str) -> bool:
    return static_file(name) is not None


_VERSIONS: dict[tuple, tuple[float, str | None]] = {}
VERSION_SECONDS = 2.0  # how soon a changed theme file shows in the pages' links


def theme_url(name: str) -> str:
    """The URL of a theme file, carrying its version so that browsers may keep it a day.  The
    version is looked up on disk at most every ``VERSION_SECONDS`` (every page links the style
    sheet and the logo)."""
    key = (current_app.config["IDP_THEME_DIR"], name)
    now = time.monotonic()
    cached = _VERSIONS.get(key)
    if cached is None or cached[0] <= now:
        path = static_file(name)
        version = None
        if path is not None:
            stat = path.stat()
            version = hashlib.sha256(f"{path}:{stat.st_mtime_ns}:{stat.st_size}".encode()).hexdigest()[:12]
        if len(_VERSIONS) > 1000:
            _VERSIONS.clear()
        cached = _VERSIONS[key] = (now + VERSION_SECONDS, version)
    if cached[1] is None:
        return url_for("theme.static", name=name)
    return url_for("theme.static", name=name, v=cached[1])


@bp.route("/theme/<path:name>")
def static(name: str):
    path = static_file(name)
    if path is None:
        abort(404)
    response = send_from_directory(path.parent, path.name, max_age=CACHE_SECONDS)
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    response.headers["Content-Security-Policy"] = FILE_CSP
    return response


def brand_name() -> str:
    """The name the pages and mails give the service (``IDP_BRAND_NAME``)."""
    return current_app.config["IDP_BRAND_NAME"]


def _template_helpers() -> dict:
    config = current_app.config
    return {"brand": {"name": config["IDP_BRAND_NAME"], "status": config["IDP_ACCESSIBILITY_STATUS"],
                      "status_text": STATUS[config["IDP_ACCESSIBILITY_STATUS"]]},
            "theme_url": theme_url, "theme_has": theme_has}


def init_app(app: Flask) -> None:
    """Before the first template is rendered: the loader is read when Jinja's environment is made."""
    app.jinja_loader = ChoiceLoader([FileSystemLoader(folder) for folder in folders(app)])
    app.context_processor(_template_helpers)
    app.register_blueprint(bp)
