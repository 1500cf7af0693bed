"""Every setting of the provider, declared once with its default and checked at start.

Settings come from the environment (prefix ``IDP_``), then from the mapping passed to
``create_app`` (tests).  A setting that cannot work stops the start with one line
naming it: :class:`ConfigError`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .redis_store import CLUSTER_SCHEME, SENTINEL_SCHEME, parse_cluster_url, parse_sentinel_url
from .users import valid_email

BUNDLED_THEME = Path(__file__).resolve().parent.parent / "templates"


class ConfigError(Exception):
    """A setting that cannot work; the message names it."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    doc: str
    parse: Callable[[str, str], Any] = lambda name, raw: raw


def _int(minimum: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
        return value

    return parse


def _bool(name: str, raw: str) -> bool:
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


def _url(*schemes: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        if urlparse(raw).scheme not in schemes:
            raise ConfigError(f"{name}: must start with one of {', '.join(s + '://' for s in schemes)}")
        return raw

    return parse


def _prefix(name: str, raw: str) -> str:
    # A brace would make the prefix the hash tag of every key: one slot of a cluster for everything.
    if "{" in raw or "}" in raw:
        raise ConfigError(f"{name}: must not contain {{ or }} (they choose a key's slot in a Redis Cluster)")
    return raw


def _redis_url(name: str, raw: str) -> str:
    scheme = urlparse(raw).scheme
    if scheme not in (SENTINEL_SCHEME, CLUSTER_SCHEME):
        return _url("redis", "rediss", "unix", SENTINEL_SCHEME, CLUSTER_SCHEME)(name, raw)
    try:
        (parse_sentinel_url if scheme == SENTINEL_SCHEME else parse_cluster_url)(raw)
    except ValueError as error:
        raise ConfigError(f"{name}: {error}") from None
    return raw


def _issuer(name: str, raw: str) -> str:
    url = urlparse(raw)
    if url.scheme not in {"http", "https"} or not url.netloc or url.query or url.fragment:
        raise ConfigError(f"{name}: must be an http(s) URL without query or fragment, got {raw!r}")
    return raw.rstrip("/")


def _env(name: str, raw: str) -> str:
    if raw not in {"development", "production", "testing"}:
        raise ConfigError(f"{name}: must be development, production or testing, got {raw!r}")
    return raw


def _names(name: str, raw: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", raw) if part]


def _locale(name: str, raw: str) -> str:
    if raw not in {"fr", "en"}:
        raise ConfigError(f"{name}: supported locales are fr and en, got {raw!r}")
    return raw


def _email(name: str, raw: str) -> str:
    address = valid_email(raw)
    if address is None:
        raise ConfigError(f"{name}: must be one e-mail address, without a name or a list, got {raw!r}")
    return address


def _password_min(name: str, raw: str) -> int:
    return _int(8)(name, raw)


def _rate(name: str, raw: str) -> str:
    if not re.fullmatch(r"\s*\d+\s*(/|per)\s*\d*\s*[a-z]+\s*(;\s*\d+\s*(/|per)\s*\d*\s*[a-z]+\s*)*", raw):
        raise ConfigError(f"{name}: expected a rate such as '10/minute' or '5 per 15 minutes', got {raw!r}")
    return raw


def _networks(name: str, raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for part in raw.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(part))
        except ValueError as error:
            raise ConfigError(f"{name}: {part!r} is not a network in CIDR notation ({error})") from None
    return tuple(networks)


RGAA = ("none", "partial", "full")  # non conforme, partiellement conforme, totalement conforme


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        if raw.strip() not in allowed:
            raise ConfigError(f"{name}: expected one of {', '.join(allowed)}, got {raw!r}")
        return raw.strip()
    return parse


ADMIN_NETWORKS = "127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"

SETTINGS: tuple[Setting, ...] = (
    Setting("IDP_ISSUER", "http://localhost:5000", "Public URL of the provider; `iss` of every token", _issuer),
    Setting("IDP_INSTANCE_DIR", "./instance", "Folder for the database, keys, secret and embedded Redis"),
    Setting("IDP_DATABASE_URL", None, "SQLAlchemy URL; default `sqlite:///<instance>/idp.sqlite3`"),
    Setting("IDP_DB_AUTO_UPGRADE", True, "Run Alembic migrations at start (under a lock)", _bool),
    Setting("IDP_REDIS_URL", None, "`redis://`, `rediss://`, `unix://`, `redis+sentinel://h:p[,h:p]/<master>[/db]`"
            " or `redis+cluster://h:p[,h:p]`; unset starts an embedded Redis", _redis_url),
    Setting("IDP_REDIS_PREFIX", "idp:", "Prefix of every Redis key, so deployments can share a server", _prefix),
    Setting("IDP_SECRET_KEY", None, "Flask secret (CSRF); generated once into the instance folder"),
    Setting("IDP_SIGNING_KEYS", None, "Private JWKS file; default `<instance>/jwks.private.json`, generated"),
    Setting("IDP_SMTP_URL", None, "Outgoing mail server; unset keeps mails in a development mailbox",
            _url("smtp", "smtp+starttls", "smtps")),
    Setting("IDP_BRAND_NAME", "Sésame", "Name shown in every page's header and title, and signing every mail"),
    Setting("IDP_ACCESSIBILITY_STATUS", "none",
            "RGAA conformance shown in the footer: `none` (never audited), `partial` or `full`", _choice(*RGAA)),
    Setting("IDP_MAIL_FROM", None, "Sender of every mail; default `<IDP_BRAND_NAME> <no-reply@localhost>`"),
    Setting("IDP_HELPDESK_EMAIL", None, "Where help-desk requests are sent (one bare address)", _email),
    Setting("IDP_HELPDESK_PHONE", None, "The help desk's phone number, shown with its address"),
    Setting("IDP_HELPDESK_DELAY_DAYS", 5, "Days the help desk announces for an answer to a request", _int(1)),
    Setting("IDP_RESET_TOKEN_TTL", 1800, "Life of a password-reset link, seconds", _int(60)),
    Setting("IDP_JOBS_MAX", 100_000, "Ceiling of the job queue; past it new jobs (mails) are dropped and counted",
            _int(1)),
    Setting("IDP_JOBS_LEASE", 120, "Seconds a job taken by a worker is left to it before another worker may take it "
            "over (a worker that died); keep it above the SMTP timeout (30 s)", _int(5)),
    Setting("IDP_VERIFY_TOKEN_TTL", 86400, "Life of an e-mail verification link, seconds", _int(60)),
    Setting("IDP_PASSWORD_MIN_LENGTH", 15, "Shortest password accepted (never below 8)", _password_min),
    Setting("IDP_ENV", None, "`development` for `idp serve`, `production` under gunicorn", _env),
    Setting("IDP_PLUGINS", ["recovery"], "Plugins to enable, by entry-point name (`idp.plugins`)", _names),
    Setting("IDP_THEME_DIR", None, "Theme folder: its templates and `static/` files first, the bundled ones after"),
    Setting("IDP_DEFAULT_LOCALE", "fr", "Language when the browser asks for none we have", _locale),
    Setting("IDP_SESSION_IDLE_TIMEOUT", 1800, "A login session ends after this many idle seconds", _int(60)),
    Setting("IDP_SESSION_MAX_AGE", 36000, "A login session ends this many seconds after login", _int(60)),
    Setting("IDP_AUTH_CODE_TTL", 60, "Life of an authorization code, seconds", _int(5)),
    Setting("IDP_ACCESS_TOKEN_TTL", 600, "Life of an access token (JWT), seconds", _int(30)),
    Setting("IDP_ID_TOKEN_TTL", 3600, "Life of an ID token, seconds", _int(30)),
    Setting("IDP_REFRESH_TOKEN_TTL", 2592000, "Life of a refresh token, seconds (each rotation renews it)",
            _int(60)),
    Setting("IDP_LOGIN_RATE_LIMIT", "20/minute", "Login attempts per client address", _rate),
    Setting("IDP_AUTHORIZE_RATE_LIMIT", "60/minute",
            "Authorization requests per client address (each may wait in a session)", _rate),
    Setting("IDP_LOGIN_ACCOUNT_RATE_LIMIT", "100 per day",
            "Ceiling of failed logins per account, every address together (then only its known addresses)", _rate),
    Setting("IDP_LOGIN_FREE_FAILURES", 5,
            "Failed logins with one identifier from one client address before delays start", _int(1)),
    Setting("IDP_LOGIN_DELAY", 60, "First delay after those, seconds; doubled at each further failure", _int(1)),
    Setting("IDP_LOGIN_DELAY_MAX", 3600, "Longest delay between failed logins, seconds", _int(1)),
    Setting("IDP_LOGIN_KNOWN_ADDRESS_TTL", 2592000,
            "How long an address that signed in to an account stays exempt from its ceiling, seconds", _int(60)),
    Setting("IDP_RECOVERY_RATE_LIMIT", "10/minute;60/hour",
            "Recovery and reset requests per client address", _rate),
    Setting("IDP_RECOVERY_ACCOUNT_RATE_LIMIT", "3 per 15 minutes",
            "Recovery requests per identifier or e-mail typed, and recovery mails per account", _rate),
    Setting("IDP_SIGNUP_RATE_LIMIT", "10/minute;100/hour",
            "Sign-up and e-mail confirmation submissions per client address", _rate),
    Setting("IDP_SIGNUP_HINT_RATE_LIMIT", "5 per hour",
            "\"An account already exists\" hints shown per client address", _rate),
    Setting("IDP_SIGNUP_HINT_PERSON_RATE_LIMIT", "3 per day",
            "\"An account already exists\" hints shown per person (names and birth date)", _rate),
    Setting("IDP_HELP_RATE_LIMIT", "5 per hour", "Help-desk requests per client address", _rate),
    Setting("IDP_HELPDESK_ACTION_RATE_LIMIT", "30 per hour",
            "Actions per help-desk agent in the console; past it the console pauses", _rate),
    Setting("IDP_SIGNUP_TAKEN_RATE_LIMIT", "20 per hour",
            "\"This identifier is already taken\" answers per client address at sign-up", _rate),
    Setting("IDP_PENDING_ACCOUNT_TTL", 604800,
            "Unconfirmed sign-ups are deleted after this many seconds (by the worker, hourly)", _int(3600)),
    Setting("IDP_NOTICE_TOKEN_TTL", 604800,
            "Life of the \"it was not me\" link in a password-changed notice, seconds", _int(60)),
    Setting("IDP_FEDERATED_RECOVERY_DELAY", 259200,
            "A lost mailbox recovered through FranceConnect, on an account whose identity was only typed, takes "
            "effect after this many seconds (the old address can cancel meanwhile)", _int(0)),
    Setting("IDP_TRUSTED_PROXIES", 0, "Reverse proxies in front (X-Forwarded-For hops to trust)", _int(0)),
    Setting("IDP_LOG_FORMAT", "text", "Log lines on stderr: `text`, or `json` (one object a line)",
            _choice("text", "json")),
    Setting("IDP_ADMIN_NETWORKS", _networks("IDP_ADMIN_NETWORKS", ADMIN_NETWORKS),
            "Client networks (CIDR) where the admin API, the console and `/metrics` answer; elsewhere 404",
            _networks),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}


def load(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Read every setting (environment, then overrides), parse and check it."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            raw = overrides.pop(setting.name)
        elif environ.get(setting.name, "") != "":
            raw = environ[setting.name]
        else:
            values[setting.name] = setting.default
            continue
        values[setting.name] = _parse(setting, raw)
    unknown = [name for name in overrides if name.startswith("IDP_")]
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown setting")
    values.update(overrides)  # non-IDP keys (e.g. TESTING) pass through to Flask
    return _derive(values)


def _parse(setting: Setting, raw: Any) -> Any:
    """Text (the environment) is parsed; a number given by a caller is checked the same way."""
    if isinstance(raw, str):
        return setting.parse(setting.name, raw)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return setting.parse(setting.name, str(raw))
    return raw


def _database_url(raw: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(raw).get_dialect()  # also loads the driver, so a missing one is named now
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        raise ConfigError(f"IDP_DATABASE_URL: cannot use {raw!r} ({error})") from None
    return raw


def _derive(values: dict) -> dict:
    instance = Path(values["IDP_INSTANCE_DIR"]).resolve()
    values["IDP_INSTANCE_DIR"] = str(instance)
    values["IDP_DATABASE_URL"] = _database_url(values["IDP_DATABASE_URL"] or f"sqlite:///{instance / 'idp.sqlite3'}")
    values["IDP_SIGNING_KEYS"] = values["IDP_SIGNING_KEYS"] or str(instance / "jwks.private.json")
    values["IDP_ENV"] = values["IDP_ENV"] or "production"
    values["IDP_MAIL_FROM"] = values["IDP_MAIL_FROM"] or str(Address(values["IDP_BRAND_NAME"], "no-reply", "localhost"))
    if values["IDP_THEME_DIR"] is not None and not Path(values["IDP_THEME_DIR"]).is_dir():
        raise ConfigError(f"IDP_THEME_DIR: {values['IDP_THEME_DIR']} is not a folder")
    if values["IDP_SESSION_IDLE_TIMEOUT"] > values["IDP_SESSION_MAX_AGE"]:
        raise ConfigError("IDP_SESSION_IDLE_TIMEOUT: must not exceed IDP_SESSION_MAX_AGE")
    if values["IDP_ENV"] == "production" and _plain_http_off_loopback(values["IDP_ISSUER"]):
        raise ConfigError(f"IDP_ISSUER: production needs an https:// issuer (or a loopback host), "
                          f"got {values['IDP_ISSUER']!r}")
    return values


def _plain_http_off_loopback(issuer: str) -> bool:
    """Passwords, cookies and tokens would cross the network in clear: only the host itself may skip TLS."""
    url = urlparse(issuer)
    if url.scheme != "http" or url.hostname == "localhost":
        return False
    try:
        return not ipaddress.ip_address(url.hostname or "").is_loopback
    except ValueError:  # a host name other than localhost
        return True
