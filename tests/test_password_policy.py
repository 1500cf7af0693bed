"""The password policy (NIST SP 800-63B-4, CNIL): a long minimum counted in code points after
NFKC, no composition rules, every character accepted; common, repetitive or personal
passwords refused, with the reason in the citizen's language."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from idp.config import ConfigError
from idp.password_policy import MAX_LENGTH, hint, problems
from idp.passwords import hash_password, verify_password

from conftest import sqlite_database


@pytest.fixture
def database_url(tmp_path, sqlite_template):
    """Nothing here touches SQL: one run on SQLite, not one per database."""
    return sqlite_database(tmp_path, sqlite_template)

COMMON_LIST = Path(__file__).resolve().parent.parent / "idp" / "data" / "common-passwords.txt"

TOO_SHORT = "The password must have at least {min} characters (it has {count})."
TOO_LONG = "The password must have at most 128 characters."
COMMON = "This password appears in lists of passwords stolen from other sites: choose another."
RUN = "This password repeats a character or follows a sequence: choose another."
PERSONAL = "The password must not contain your identifier or your e-mail address."

PHRASE = "plume verte sous la pluie du soir, le chat dort près du feu et rêve de la mer lointaine; "
EMOJI = "🦊🐻🐼🐨🐯🦁🐮🐷🐸🐵🐔🐧🐦🐤🦉"


def refusals(app, password: str, username: str | None = None, email: str | None = None,
             lang: str = "en") -> list[str]:
    """What the citizen is told, on a page in ``lang``."""
    with app.test_request_context(f"/?lang={lang}"):
        return problems(password, username, email)


@pytest.mark.parametrize(("password", "count"), [
    ("Le ﬁlm du soir", 15),  # 14 code points typed, the ligature becomes "fi"
    (unicodedata.normalize("NFD", "Élodie a été"), 12),  # 15 code points typed, 12 once composed
    (EMOJI, 15),
    (EMOJI[:14], 14),  # each emoji is one code point
    ("ｐｌｕｍｅ ｖｅｒｔｅ ｓｏｕｓ", 17),  # full-width letters become ASCII, one for one
])
def test_length_is_counted_in_code_points_after_nfkc(app, password, count):
    expected = [] if count >= 15 else [TOO_SHORT.format(min=15, count=count)]
    assert refusals(app, password) == expected


@pytest.mark.parametrize("minimum", [8, 15, 20, 64])
def test_the_minimum_length_is_accepted_one_less_is_refused(build_app, minimum):
    app = build_app(IDP_PASSWORD_MIN_LENGTH=minimum)
    assert refusals(app, PHRASE[:minimum]) == []
    assert refusals(app, PHRASE[:minimum - 1]) == [TOO_SHORT.format(min=minimum, count=minimum - 1)]


def test_the_default_minimum_is_15(app):
    assert refusals(app, PHRASE[:15]) == []
    assert refusals(app, PHRASE[:14]) == [TOO_SHORT.format(min=15, count=14)]
    assert refusals(app, "") == [TOO_SHORT.format(min=15, count=0)]


@pytest.mark.parametrize(("length", "expected"), [(MAX_LENGTH, []), (MAX_LENGTH + 1, [TOO_LONG]), (1000, [TOO_LONG])])
def test_at_most_128_characters(app, length, expected):
    password = (PHRASE * 12)[:length]
    assert len(password) == length
    assert refusals(app, password) == expected


@pytest.mark.parametrize("password", [
    "Élodie aime le café crème brûlée",
    "春眠不觉晓处处闻啼鸟夜来风雨声花落知多少",
    "🦊🐻🐼 les renards dansent sous la 🌙",
    "l'été, à 6 h : « bonjour ! » — ¿qué tal?",
    "un cheval mange des pommes vertes",  # all lower case, letters and spaces only
    "unchevalmangedespommesvertes",
    "  espaces  au début et à la fin  ",
    "Ωμέγα και άλφα, δύο γράμματα",
    "tab\tand new\nline are characters",
])
def test_every_character_is_accepted_and_there_are_no_composition_rules(app, password):
    assert refusals(app, password) == []


def common_list() -> set[str]:
    return set(COMMON_LIST.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize(("password", "minimum"), [
    ("qwerty123456789", 8),
    ("qwerty123456789", 15),
    ("1qaz2wsx3edc4rfv", 15),
    ("123456789qwerty", 8),
    ("qazwsxedcrfvtgb", 15),
    ("1234qwerasdfzxcv", 15),
    ("1234QWERasdfZXCV", 8),
    ("QWERTY 123456789", 15),  # spaces do not hide it
    ("PASSWORD1234", 8),
    ("Password1234", 8),
    ("password 1234", 8),
    ("ILoveYou123", 8),
])
def test_common_breached_passwords_are_refused(build_app, password, minimum):
    assert "".join(password.casefold().split()) in common_list()
    app = build_app(IDP_PASSWORD_MIN_LENGTH=minimum)
    assert refusals(app, password) == [COMMON]


@pytest.mark.parametrize("password", [
    "aaaaaaaaaaaaaaaa",
    "AAAAAAAAAAAAAAAAAAAA",
    "                    ",
    "abcdefghijklmnop",
    "zyxwvutsrqponmlk",
    "ABCDEFGHIJKLMNOP",
    "abcabcabcabcabcabc",
    "ababababababababab",
    "xyzxyzxyzxyzxyzx",
    "éééééééééééééééé",
])
def test_repeated_or_sequential_runs_are_refused(app, password):
    assert refusals(app, password) == [RUN]


@pytest.mark.parametrize(("password", "username", "email"), [
    ("jean.dupont aime la mer bleue", "jean.dupont", None),
    ("JEAN.DUPONT aime la mer bleue", "jean.dupont", None),
    ("la mer bleue de jean.dupont", "Jean.Dupont", None),
    ("ma boîte jean.dupont@example.fr", None, "jean.dupont@example.fr"),
    ("ma boîte JEAN.DUPONT@EXAMPLE.FR", None, "jean.dupont@example.fr"),
    ("Jean.Dupont!! chez moi toujours", None, "jean.dupont@example.fr"),
    ("le grand jdupont42 du soir", "elodie.martin", "JDupont42@example.fr"),
])
def test_a_password_holding_the_identifier_or_address_is_refused(app, password, username, email):
    assert refusals(app, password, username, email) == [PERSONAL]


def test_common_and_personal_reasons_are_both_given(build_app):
    app = build_app(IDP_PASSWORD_MIN_LENGTH=8)
    assert refusals(app, "password1234", "password", None) == [COMMON, PERSONAL]


@pytest.mark.parametrize(("username", "email"), [
    ("ann", None),
    ("al", "al@example.fr"),
    ("jo", "jo@ex.fr"),
    ("bob", "ann@x.fr"),
])
def test_short_identifiers_cause_no_refusal(app, username, email):
    assert refusals(app, "anne et alice vont au marché avec jo et bob", username, email) == []


def test_the_reason_is_in_english_on_request(app):
    assert refusals(app, "trop court", lang="en") == [TOO_SHORT.format(min=15, count=10)]
    with app.test_request_context("/", headers={"Accept-Language": "en-GB,en;q=0.9"}):
        assert problems("trop court") == [TOO_SHORT.format(min=15, count=10)]


def test_the_reason_is_in_french_by_default(app):
    with app.test_request_context("/"):
        assert problems("trop court") == ["Le mot de passe doit compter au moins 15 caractères (il en a 10)."]
        assert problems(PHRASE * 2) == ["Le mot de passe doit compter au plus 128 caractères."]
        assert problems("aaaaaaaaaaaaaaaa") == [
            "Ce mot de passe répète un caractère ou suit une séquence : choisissez-en un autre."]
        assert problems("jean.dupont aime la mer", "jean.dupont") == [
            "Le mot de passe ne doit contenir ni votre identifiant ni votre adresse électronique."]


def test_the_hint_gives_the_minimum(build_app):
    app = build_app(IDP_PASSWORD_MIN_LENGTH=20)
    with app.test_request_context("/?lang=en"):
        assert hint().startswith("Use at least 20 characters.")
        assert "spaces" in hint()


@pytest.mark.parametrize("minimum", [0, 7, -15, "0", "7", "abc", "", "7.5"],
                         ids=["int-0", "int-7", "int-minus-15", "text-0", "text-7", "text-abc", "text-empty",
                              "text-7.5"])
def test_a_minimum_below_8_is_refused_at_start(build_app, minimum):
    """As text (the environment) or as a number (the mapping given to create_app)."""
    with pytest.raises(ConfigError, match="IDP_PASSWORD_MIN_LENGTH"):
        build_app(IDP_PASSWORD_MIN_LENGTH=minimum)


@pytest.mark.parametrize("minimum", [8, "8", "30"])
def test_a_minimum_of_8_or_more_is_accepted(build_app, minimum):
    app = build_app(IDP_PASSWORD_MIN_LENGTH=minimum)
    assert app.config["IDP_PASSWORD_MIN_LENGTH"] == int(minimum)


def test_composed_and_decomposed_accents_are_the_same_password():
    composed = unicodedata.normalize("NFC", "Élodie aime le café crème")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    for stored, typed in [(composed, decomposed), (decomposed, composed)]:
        password_hash = hash_password(stored)
        assert verify_password(password_hash, typed)
        assert verify_password(password_hash, stored)
        assert not verify_password(password_hash, "Elodie aime le cafe creme")
