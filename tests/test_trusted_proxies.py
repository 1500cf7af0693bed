"""Whose address the provider sees: the peer's, unless IDP_TRUSTED_PROXIES says how many proxies in
front set X-Forwarded-For.  A forged header must neither dodge the rate limits nor forge the
address in the audit log."""

from __future__ import annotations

from sqlalchemy import select

from idp.models import AuditEvent

from helpers import login, make_user

PEER, FORGED = "198.51.100.7", "203.0.113.99"
WRONG_PASSWORD = "not the right password at all"


def from_peer(app):
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = PEER
    return browser


def failed_login(browser, forwarded_for: str) -> int:
    browser.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return login(browser, password=WRONG_PASSWORD).status_code


def audited_addresses(db, action: str) -> list[str]:
    db.rollback()
    return list(db.scalars(select(AuditEvent.ip).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_without_trusted_proxies_a_forwarded_address_is_ignored_by_the_audit_log(build_app, db):
    app = build_app(IDP_TRUSTED_PROXIES=0)
    make_user(db)

    assert failed_login(from_peer(app), FORGED) == 401

    assert audited_addresses(db, "login.failure") == [PEER]


def test_with_one_trusted_proxy_the_address_it_forwarded_is_audited(build_app, db):
    app = build_app(IDP_TRUSTED_PROXIES=1)
    make_user(db)

    assert failed_login(from_peer(app), f"{FORGED}, 192.0.2.1") == 401  # the client's own claim, then the proxy's

    assert audited_addresses(db, "login.failure") == ["192.0.2.1"]  # one hop from the right: what the proxy saw


def test_without_trusted_proxies_a_new_forwarded_address_per_try_does_not_dodge_the_rate_limit(build_app, db):
    app = build_app(IDP_TRUSTED_PROXIES=0, IDP_LOGIN_RATE_LIMIT="3/minute")
    make_user(db)
    browser = from_peer(app)

    answers = [failed_login(browser, f"203.0.113.{n}") for n in range(4)]

    assert answers == [401, 401, 401, 429]


def test_behind_a_trusted_proxy_the_limit_counts_per_forwarded_address(build_app, db):
    app = build_app(IDP_TRUSTED_PROXIES=1, IDP_LOGIN_RATE_LIMIT="3/minute")
    make_user(db)
    browser = from_peer(app)  # the proxy

    answers = [failed_login(browser, f"203.0.113.{n}") for n in range(4)]

    assert answers == [401, 401, 401, 401]  # four citizens behind one proxy, one try each
