"""Identities at upstream providers tied to accounts (idp/upstream_identities.py): one account per
identity, the first-use comparison on folded names and birth date (never the e-mail alone), and
untying only when the account keeps another way in."""

from __future__ import annotations

import datetime as dt

import pytest

from idp.upstream_identities import LinkError, identities_of, link, linked_account, match, unlink

from helpers import make_user

FC = "https://fcp.integ01.dev-franceconnect.fr/api/v1"
BORN = dt.date(1987, 11, 3)


def verified(given="Élodie", family="Martin-Lefèvre", birthdate="1987-11-03", **claims) -> dict:
    """Claims as an upstream sends them (the identité pivot's names and birth date)."""
    return {"given_name": given, "family_name": family, "birthdate": birthdate, **claims}


def test_an_identity_signs_in_to_the_one_account_it_is_tied_to(db):
    elodie = make_user(db, username="elodie", email="elodie@example.fr", given_name="Elodie",
                       family_name="Martin Lefevre", birthdate=BORN)
    other = make_user(db, username="autre", email="autre@example.fr")
    assert linked_account(db, FC, "sub-1") is None
    link(db, elodie, FC, "sub-1", "franceconnect")
    assert linked_account(db, FC, "sub-1").id == elodie.id
    assert linked_account(db, "https://another.example.fr", "sub-1") is None  # a subject is per issuer

    for account in (elodie, other):
        with pytest.raises(LinkError, match="already tied"):
            link(db, account, FC, "sub-1", "franceconnect")
    assert [tie.subject for tie in identities_of(db, elodie)] == ["sub-1"] and identities_of(db, other) == []

    elodie.status = "disabled"
    db.commit()
    assert linked_account(db, FC, "sub-1") is None  # a disabled account signs in by no way


def test_the_first_use_compares_folded_names_and_the_birth_date(db):
    make_user(db, username="elodie", email="elodie@example.fr", given_name="Elodie", family_name="Martin Lefevre",
              birthdate=BORN)
    assert match(db, verified()).outcome == "one"
    assert match(db, verified(given="Élodie Marie Jeanne")).outcome == "one"  # every given name, the first one hers
    assert match(db, verified(birthdate="1987-11-04")).outcome == "none"
    assert match(db, verified(family="Martin")).outcome == "none"
    same_address = verified(given="Paul", family="Durand", email="elodie@example.fr")
    assert match(db, same_address).outcome == "none"  # the e-mail address alone is no match
    assert match(db, verified(birthdate="03/11/1987")).outcome == "incomplete"  # not the OpenID Connect form
    assert match(db, {"given_name": "Élodie", "family_name": "Martin-Lefèvre"}).outcome == "incomplete"

    make_user(db, username="elodie2", email="elodie2@example.fr", given_name="ÉLODIE", family_name="martin-lefèvre",
              birthdate=BORN)
    found = match(db, verified())
    assert found.outcome == "several" and [user.username for user in found.accounts] == ["elodie", "elodie2"]


def test_a_birthplace_a_provider_verified_must_be_the_identity_s_too(db):
    """FranceConnect's guidance: compare every field both sides hold; one side's silence is no mismatch."""
    elodie = make_user(db, username="elodie", email="elodie@example.fr", given_name="Elodie",
                       family_name="Martin Lefevre", birthdate=BORN)
    assert match(db, verified(birthplace="35238", birthcountry="99100")).outcome == "one"  # none kept yet
    elodie.birthplace, elodie.birthcountry = "35238", "99100"
    db.commit()
    assert match(db, verified(birthplace="35238", birthcountry="99100")).outcome == "one"
    assert match(db, verified()).outcome == "one"  # the identity says nothing of it
    assert match(db, verified(birthplace="75056", birthcountry="99100")).outcome == "none"
    assert match(db, verified(birthplace="35238", birthcountry="99351")).outcome == "none"


def test_an_identity_is_untied_only_when_the_account_keeps_another_way_in(db):
    without_password = make_user(db, username="sans.mdp", email="sans@example.fr", password=None)
    first = link(db, without_password, FC, "sub-1", "franceconnect")
    with pytest.raises(LinkError, match="no way in"):
        unlink(db, without_password, first.id)
    second = link(db, without_password, "https://autre.example.fr", "sub-9", "autre")
    unlink(db, without_password, first.id)  # the other identity still lets the citizen in
    assert [tie.id for tie in identities_of(db, without_password)] == [second.id]

    with_password = make_user(db, username="avec.mdp", email="avec@example.fr")
    with pytest.raises(LinkError, match="no such identity"):
        unlink(db, with_password, second.id)  # someone else's
    mine = link(db, with_password, FC, "sub-2", "franceconnect")
    unlink(db, with_password, mine.id)
    assert identities_of(db, with_password) == []
