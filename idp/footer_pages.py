"""The pages behind the footer's links: the accessibility statement, personal data, the legal
notice, help and contact.

Their texts are the theme's: ``pages/<language>/<page>.html``, one template per language
(long texts a deployer edits as they read, not message by message in a catalog). A theme
overrides them in ``IDP_THEME_DIR``; the bundled ones hold placeholders to fill in. The
personal-data page is given the real durations from the settings.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, render_template
from flask_babel import format_timedelta, get_locale

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
    return {name: format_timedelta(timedelta(seconds=config[setting]), threshold=1)
            for name, setting in KEPT_FOR.items()}


def _page(name: str, **context):
    """The page in the citizen's language; French when the theme has only French."""
    language = str(get_locale() or "fr")
    return render_template([f"pages/{language}/{name}.html", f"pages/fr/{name}.html"], has_page=has_page, **context)


def has_page(endpoint: str) -> bool:
    """Whether a page is there to link to (the recovery pages come with a plugin that may be off)."""
    return endpoint in current_app.view_functions
