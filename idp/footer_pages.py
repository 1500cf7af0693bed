"""The pages behind the footer's links: the accessibility statement, personal data, the legal
notice, help and contact.

Their texts are the theme's: ``pages/<language>/<page>.html``, one template per language
(long texts a deployer edits as they read, not message by message in a catalog). A theme
overrides them in ``IDP_THEME_DIR``; the bundled ones hold placeholders to fill in, and are
used only for a page the theme has in no language. The
personal-data page is given the real durations from the settings.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Blueprint, current_app, render_template
from flask_babel import format_timedelta, get_locale

from .config import BUNDLED_THEME

bp = Blueprint("pages", __name__)
KEPT_FOR = {"session_idle": "IDP_SESSION_IDLE_TIMEOUT", "session": "IDP_SESSION_MAX_AGE",
            "access_token": "IDP_ACCESS_TOKEN_TTL", "id_token": "IDP_ID_TOKEN_TTL",
            "refresh_token": "IDP_REFRESH_TOKEN_TTL", "pending_account": "IDP_PENDING_ACCOUNT_TTL",
            "reset_link": "IDP_RESET_TOKEN_TTL", "verify_link": "IDP_VERIFY_TOKEN_TTL",
            "known_address": "IDP_LOGIN_KNOWN_ADDRESS_TTL"}


@bp.route("/accessibilite")
def accessibility():
    return _page("accessibilite")


@bp.route("/donnees-personnelles")
def personal_data():
    return _page("donnees-personnelles", kept_for=kept_for())


@bp.route("/mentions-legales")
def legal_notice():
    return _page("mentions-legales")


@bp.route("/aide-et-contact")
def help_and_contact():
    return _page("aide-et-contact")


def kept_for() -> dict[str, str]:
    """Each duration of the personal-data page, in words of the page's language ("1 semaine")."""
    config = current_app.config
    # The number and its unit never part at a line end (Babel's French data has both spaces).
    return {name: format_timedelta(timedelta(seconds=config[setting]), threshold=1).replace(" ", "\u00a0")
            for name, setting in KEPT_FOR.items()}


def _page(name: str, **context):
    """The page in the citizen's language, the theme's own first: a region that wrote only the
    French text shows it to everyone rather than the bundled placeholders."""
    return render_template(_template(name), has_page=has_page, **context)


def _template(name: str) -> str:
    languages = dict.fromkeys([str(get_locale() or "fr"), "fr"])
    theme = current_app.config["IDP_THEME_DIR"]
    for language in languages if theme else ():
        if (Path(theme) / "pages" / language / f"{name}.html").is_file():
            return f"pages/{language}/{name}.html"
    return next(f"pages/{language}/{name}.html" for language in languages
                if (BUNDLED_THEME / "pages" / language / f"{name}.html").is_file())


def has_page(endpoint: str) -> bool:
    """Whether a page is there to link to (the recovery pages come with a plugin that may be off)."""
    return endpoint in current_app.view_functions
