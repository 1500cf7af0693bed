"""Roles on the command line: `idp users grant USERNAME helpdesk` and `revoke-role`, each
audited; unknown roles and accounts are refused in one clear line."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.models import AuditEvent, User
from idp.roles import has_role, roles_of

from helpers import make_user, run_idp_here


@pytest.fixture
def idp(app_config):
    return lambda *args: run_idp_here(app_config, *args)


def test_grant_then_revoke_the_helpdesk_role_both_audited(idp, db):
    agent = make_user(db, username="agent.accueil", email="agent@region.fr")
    granted = idp("users", "grant", "agent.accueil", "helpdesk")
    assert granted.returncode == 0, granted.stderr
    assert "now has the role helpdesk" in granted.stdout
    db.expire_all()
    assert roles_of(db, agent) == ["helpdesk"]
    again = idp("users", "grant", "Agent.Accueil", "helpdesk")
    assert again.returncode == 0 and "already had the role" in again.stdout

    revoked = idp("users", "revoke-role", "agent.accueil", "helpdesk")
    assert revoked.returncode == 0 and "no longer has the role helpdesk" in revoked.stdout
    db.expire_all()
    assert not has_role(db, db.get(User, agent.id), "helpdesk")
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.user_id == agent.id).order_by(AuditEvent.id))
    assert list(actions) == ["role.granted", "role.revoked"]


@pytest.mark.parametrize(("args", "message"), [
    (("users", "grant", "agent.accueil", "admin"), "must be one of: helpdesk"),
    (("users", "grant", "personne", "helpdesk"), "no account with the identifier 'personne'"),
    (("users", "revoke-role", "agent@region.fr", "helpdesk"), "no account with the identifier"),
])
def test_unknown_roles_and_accounts_are_refused_in_one_line(idp, db, args, message):
    agent = make_user(db, username="agent.accueil", email="agent@region.fr")
    result = idp(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert roles_of(db, agent) == []
