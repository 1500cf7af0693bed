"""Sésame: the OpenID Connect provider of the regional online services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from . import (
    account,
    account_deletion,
    account_export,
    account_identities,
    account_services,
    account_sessions,
    admin,
    db,
    devmail,
    errors,
    federated_recovery,
    federation_views,
    footer_pages,
    form_errors,
    health,
    help_contact,
    helpdesk,
    i18n,
    instance,
    jobs,
    login,
    logs,
    mail,
    metrics,
    one_time_tokens,
    passkey_script,
    passkeys,
    password_toggle,
    plugins,
    protocol_endpoints,
    ratelimit,
    redaction,
    relying_party,
    same_origin,
    second_factor,
    security_headers,
    sessions,
    theme,
)
from . import config as settings
from .client_cache import ClientCache
from .keys import SigningKeys
from .oidc import backchannel
from .oidc import par as oidc_par
from .oidc import server as oidc_server
from .oidc import views as oidc_views
from .oidc.context import Provider
from .redis_store import Keys, connect, limiter_storage, redis_url

csrf = CSRFProtect()


def create_app(config: Mapping[str, Any] | None = None, *, sends_mail: bool = True) -> Flask:
    """Build the provider: defaults, then the environment, then ``config`` (tests).

    ``sends_mail=False`` is for the commands that deliver no mail (``idp clients``, ``idp
    users``...): they run in production without ``IDP_SMTP_URL``, which the server requires."""
    values = settings.load(config)
    app = Flask(__name__, template_folder=None, static_folder=None)
    app.config.update(values)
    logs.init_app(app)  # first: whatever start-up logs reaches stderr
    _prepare_instance(app)
    _attach_storage(app, sends_mail)
    instance.make_private(app.config["IDP_INSTANCE_DIR"])  # once the database and the embedded Redis exist
    _attach_web(app)
    plugins.load(app, app.config["IDP_PLUGINS"])
    if app.config["IDP_TRUSTED_PROXIES"]:
        hops = app.config["IDP_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    redaction.init_app(app, logs.handler())
    return app


def _prepare_instance(app: Flask) -> None:
    cfg = app.config
    try:
        folder = instance.ensure_dir(cfg["IDP_INSTANCE_DIR"])
    except OSError as error:
        raise settings.ConfigError(f"IDP_INSTANCE_DIR: cannot create {error.filename}: {error.strerror}") from None
    retention = max(cfg["IDP_ACCESS_TOKEN_TTL"], cfg["IDP_ID_TOKEN_TTL"])
    with instance.locked(folder):
        cfg["SECRET_KEY"] = cfg["IDP_SECRET_KEY"] or instance.secret_key(folder)
        signing_keys = SigningKeys(cfg["IDP_SIGNING_KEYS"], retention)
        try:
            signing_keys.ensure()
        except OSError as error:
            raise settings.ConfigError(f"IDP_SIGNING_KEYS: cannot create {error.filename}: {error.strerror}") from None
        if cfg["IDP_DB_AUTO_UPGRADE"]:
            db.upgrade(cfg["IDP_DATABASE_URL"])
        else:
            db.check_schema(cfg["IDP_DATABASE_URL"])
    app.extensions["idp.signing_keys"] = signing_keys


def _attach_storage(app: Flask, sends_mail: bool) -> None:
    cfg = app.config
    url = redis_url(cfg)
    client = connect(url)
    keys = Keys(cfg["IDP_REDIS_PREFIX"])
    app.extensions["idp"] = Provider(cfg["IDP_ISSUER"], client, keys, app.extensions["idp.signing_keys"], cfg)
    # Tests build hundreds of apps: they read the generation on every request (the listener is
    # tested on its own).
    app.extensions["idp.client_cache"] = ClientCache(client, keys("clients-generation"),
                                                     listen=cfg["IDP_ENV"] != "testing")
    db.init_app(app)
    sessions.init_app(app, client, keys)
    one_time_tokens.init_app(app, client, keys)
    jobs.init_app(app, client, keys)
    mail.init_app(app, client, keys, sends_mail)
    ratelimit.init_app(app, *limiter_storage(url))


def _attach_web(app: Flask) -> None:
    i18n.init_app(app)
    form_errors.init_app(app)
    password_toggle.init_app(app)
    passkey_script.init_app(app)
    theme.init_app(app)
    help_contact.init_app(app)
    relying_party.init_app(app)
    # Larger than any form (the help form, at most ~30 KiB encoded): bigger bodies answer 413 unread.
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_CONTENT_LENGTH"] or 64 * 1024
    csrf.init_app(app)
    same_origin.init_app(app)  # what WTF_CSRF_SSL_STRICT would check, without needing a Referer
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # the session's own timeouts bound the token's life
    oidc_server.init_app(app)
    backchannel.init_app(app)
    for view in (oidc_views.token, oidc_views.userinfo, oidc_views.revoke, oidc_views.introspect,
                 oidc_views.authorize, oidc_views.rp_logout, oidc_par.push):
        csrf.exempt(view)  # protocol endpoints: clients authenticate, there is no form
    app.register_blueprint(oidc_views.bp)
    app.register_blueprint(oidc_par.bp)
    app.register_blueprint(login.bp)
    app.register_blueprint(account.bp)
    for page in (account_services, account_sessions, account_export, account_deletion, account_identities):
        app.register_blueprint(page.bp)
    app.register_blueprint(second_factor.bp)
    app.register_blueprint(passkeys.bp)
    app.register_blueprint(federation_views.bp)
    federated_recovery.init_app(app)
    admin.init_app(app, csrf)
    helpdesk.init_app(app)
    app.register_blueprint(health.bp)
    metrics.init_app(app)
    app.register_blueprint(footer_pages.bp)
    devmail.init_app(app)
    errors.init_app(app)
    security_headers.init_app(app)
    protocol_endpoints.init_app(app)
