"""Language: ``?lang=``, then the relying party's ``ui_locales``, then what the session
remembered, then ``Accept-Language``, then ``IDP_DEFAULT_LOCALE``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel, get_locale
from werkzeug.exceptions import RequestEntityTooLarge

LOCALES = ("fr", "en")
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def _requested() -> str | None:
    if lang := request.args.get("lang"):
        return lang if lang in LOCALES else None
    for tag in _ui_locales().split():
        if (language := tag.split("-")[0].lower()) in LOCALES:
            return language
    return None


def _ui_locales() -> str:
    try:
        return request.values.get("ui_locales", "")
    except RequestEntityTooLarge:  # the body is refused unread: this is its error page
        return ""


def remember_choice() -> None:
    """Keep an explicit choice for the session, even on a request that only redirects
    (``/oauth/authorize?ui_locales=en`` → the login page)."""
    chosen = _requested()
    if chosen and session.get("lang") != chosen:
        session["lang"] = chosen


def select_locale() -> str:
    if not has_request_context():  # a command or a job outside force_locale
        return current_app.config["IDP_DEFAULT_LOCALE"]
    return _requested() or session.get("lang") or request.accept_languages.best_match(LOCALES) \
        or current_app.config["IDP_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    app.config["BABEL_DEFAULT_LOCALE"] = app.config["IDP_DEFAULT_LOCALE"]
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Paris")  # dates shown to citizens are France's
    Babel(app, locale_selector=select_locale)
    app.context_processor(_template_helpers)
    app.before_request(remember_choice)


def lang_url(code: str) -> str:
    """This page in another language: a link of only a query string, which keeps the page's path.

    The query is built by hand: given to ``url_for``, names such as ``endpoint``, ``_method``
    or ``_external`` would steer it (a crash, or a link to the host the request claimed)."""
    kept = [(name, value) for name, value in request.args.items(multi=True) if name != "lang"]
    return "?" + urlencode([*kept, ("lang", code)])


def _template_helpers() -> dict:
    return {"current_locale": str(get_locale() or "fr"), "lang_url": lang_url}
