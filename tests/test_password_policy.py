"""The password policy (NIST SP 800-63B-4, CNIL): a long minimum counted in code points after
NFKC, no composition rules, every character accepted; common, guessable or personal
passwords refused (zxcvbn, with the citizen's details and French words), with the reason
in the citizen's language."""

from __future__ import annotations

import ast
import datetime as dt
import random
import time
import unicodedata
from pathlib import Path

import pytest
import zxcvbn.feedback

from idp.config import ConfigError
from idp.password_policy import FEEDBACK, MAX_LENGTH, french_words, hint, problems
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
PERSONAL = "The password must not contain your identifier or your e-mail address."
GUESSABLE = "This password would be too easy to guess."
ABOUT_YOU = ("Your names, birth date, identifier and e-mail address are the first things tried by someone "
             "who knows you: leave them out.")

PASSPHRASE = "quokka, yack et gnou dansent sous la lune rousse, puis le train de nuit vers la mer lointaine"
PHRASE = "plume verte sous la pluie du soir, le chat dort près du feu et rêve de la mer lointaine; "
EMOJI = "🦊🐻🐼🐨🐯🦁🐮🐷🐸🐵🐔🐧🐦🐤🦉"


def refusals(app, password: str, username: str | None = None, email: str | None = None,
             lang: str = "en", **details) -> list[str]:
    """What the citizen is told, on a page in ``lang``."""
    with app.test_request_context(f"/?lang={lang}"):
        return problems(password, username, email, **details)


@pytest.mark.parametrize(("password", "count"), [
    ("Le ﬁlm du soir", 15),  # 14 code points typed, the ligature becomes "fi"
    (unicodedata.normalize("NFD", "Élodie a été"), 12),  # 15 code points typed, 12 once composed
    (EMOJI, 15),
    (EMOJI[:14], 14),  # each emoji is one code point
    ("ｐｌｕｍｅ ｖｅｒｔｅ ｓｏｕｓ", 17),  # full-width letters become ASCII, one for one
])
def test_length_is_counted_in_code_points_after_nfkc(app, password, count):
    """Only the length is at stake here: some of these are refused as too easy to guess."""
    assert (TOO_SHORT.format(min=15, count=count) in refusals(app, password)) == (count < 15)


@pytest.mark.parametrize("minimum", [15, 20, 64])
def test_the_minimum_length_is_accepted_one_less_is_refused(build_app, minimum):
    app = build_app(IDP_PASSWORD_MIN_LENGTH=minimum)
    assert refusals(app, PASSPHRASE[:minimum]) == []
    assert refusals(app, PASSPHRASE[:minimum - 1]) == [TOO_SHORT.format(min=minimum, count=minimum - 1)]


def test_at_a_minimum_of_8_eight_characters_are_long_enough_but_too_easy_to_guess(build_app):
    """zxcvbn counts at most 10 guesses a character: under 12 characters none reaches 10^12."""
    app = build_app(IDP_PASSWORD_MIN_LENGTH=8)
    assert refusals(app, "Xq7#pL2v")[0] == GUESSABLE
    assert refusals(app, "Xq7#pL2") == [TOO_SHORT.format(min=8, count=7)]


def test_the_default_minimum_is_15(app):
    assert refusals(app, PASSPHRASE[:15]) == []
    assert refusals(app, PASSPHRASE[:14]) == [TOO_SHORT.format(min=15, count=14)]
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


@pytest.mark.parametrize(("password", "warning"), [
    ("aaaaaaaaaaaaaaaa", 'Repeats like "aaa" are easy to guess.'),
    ("AAAAAAAAAAAAAAAAAAAA", 'Repeats like "aaa" are easy to guess.'),
    ("                    ", 'Repeats like "aaa" are easy to guess.'),
    ("éééééééééééééééé", 'Repeats like "aaa" are easy to guess.'),
    ("abcabcabcabcabcabc", 'Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    ("ababababababababab", 'Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    ("xyzxyzxyzxyzxyzx", 'Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    ("abcdefghijklmnop", 'Sequences like "abc" or "6543" are easy to guess.'),
    ("zyxwvutsrqponmlk", 'Sequences like "abc" or "6543" are easy to guess.'),
    ("ABCDEFGHIJKLMNOP", 'Sequences like "abc" or "6543" are easy to guess.'),
    ("wxcvbnqsdfghjkl", "Straight rows of keys are easy to guess."),
])
def test_repeated_or_sequential_runs_are_refused_with_zxcvbns_warning(app, password, warning):
    assert refusals(app, password)[:2] == [GUESSABLE, warning]


@pytest.mark.parametrize(("password", "warning"), [
    ("password1234567", "This is similar to a commonly used password."),
    ("azertyuiop12345", "This is similar to a commonly used password."),
    ("azertyuiopqsdfghjklm", "This is similar to a commonly used password."),
    ("camillemartin1990xx", "Common names and surnames are easy to guess."),
])
def test_the_weak_passwords_of_the_issue_are_refused_with_a_reason(app, password, warning):
    """All four were accepted by the length and breached-list rules alone."""
    assert refusals(app, password)[:2] == [GUESSABLE, warning]
    assert "Add another word or two. Uncommon words are better." in refusals(app, password)


CAMILLE = {"given_name": "Camille", "family_name": "Martin", "birthdate": dt.date(1990, 5, 17)}
ELODIE = {"given_name": "Élodie", "family_name": "Dartagnan", "birthdate": dt.date(1987, 11, 3)}


@pytest.mark.parametrize(("password", "details"), [
    ("camillemartin1990xx", CAMILLE),
    ("camille martin 17/05/1990", CAMILLE),
    ("1990-05-17 camille martin", CAMILLE),
    ("martin camille 17051990", CAMILLE),
    ("elodie dartagnan 1987 x", ELODIE),
    ("dartagnan 03/11/1987 !", ELODIE),
    ("Élodie Dartagnan 031187", ELODIE),
    ("elodie 03111987 dartagnan", ELODIE),
    ("elodiedartagnan1987", ELODIE),
])
def test_the_citizens_names_and_birth_date_are_what_a_guesser_tries_first(app, password, details):
    told = refusals(app, password, "pseudo42", "contact@example.fr", **details)
    assert told[:2] == [GUESSABLE, ABOUT_YOU]


@pytest.mark.parametrize("password", [
    "elodie dartagnan 1987 x", "dartagnan 03/11/1987 !", "elodie 03111987 dartagnan", "elodiedartagnan1987"])
def test_a_stranger_could_use_elodies_names_only_elodie_cannot(app, password):
    """Dartagnan is on no list: only the citizen's own details make these guessable."""
    assert refusals(app, password) == []


@pytest.mark.parametrize("password", [
    "cheval pomme nuage riviere",
    "cheval pomme nuage rivière",
    "chevalpommenuageriviere",
    "maison-soleil-jardin-chat",
    "Jardin Fromage Voiture Montagne",
    "la maison du soleil rouge",
])
def test_passphrases_of_four_common_french_words_pass(app, password):
    assert refusals(app, password, "cmartin", "camille.martin@example.fr", **CAMILLE) == []


@pytest.mark.parametrize("separator", [" ", "", "-"])
def test_random_passphrases_of_four_of_the_5000_most_common_french_words_pass(app, separator):
    words = [word for word, rank in french_words().items() if rank <= 5000 and len(word) >= 4 and word.isalpha()]
    chooser = random.Random(f"four words {separator}")
    for _ in range(50):
        passphrase = separator.join(chooser.sample(words, 4))
        assert refusals(app, passphrase) == [], passphrase


@pytest.mark.parametrize("password", [
    "maison soleil jardin",
    "bonjoursoleilmaison",
    "chevalpommenuage",
    "rivierecheval2024",
])
def test_three_common_french_words_are_too_few(app, password):
    """zxcvbn alone does not know French words: these are its random letters without the list."""
    assert refusals(app, password)[0] == GUESSABLE


def test_french_words_are_ranked_with_and_without_accents():
    assert french_words()["rivière"] == french_words()["riviere"]
    assert french_words()["été"] == french_words()["ete"] < 100


@pytest.mark.parametrize("password", [
    "correct horse battery staple",  # tests/helpers.py PASSWORD
    "a walk along the river at dawn",
    "a walk along the river at dusk",
    "Quartz lanterne boréale 47 !",
    "lanterne verte sous la pluie",
    "une nouvelle vie au bord du lac 1984",
    "le train de nuit part de Briançon",
    "seven swans above the frozen lake",
    "the thief chose this one carefully",
    "lanterns over the quiet harbour",
])
def test_the_passwords_of_the_test_suite_pass(app, password):
    assert refusals(app, password, "jean.dupont", "jean.dupont@example.fr", **CAMILLE) == []


def test_every_sentence_zxcvbn_can_say_is_in_the_catalog_and_in_french(app):
    source = Path(zxcvbn.feedback.__file__).read_text(encoding="utf-8")
    said = {ast.literal_eval(node.args[0]) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_"}
    assert len(said) > 20
    assert said == set(FEEDBACK)
    with app.test_request_context("/"):
        french = {sentence: str(FEEDBACK[sentence]) for sentence in said}
    assert all(french[sentence] != sentence for sentence in said), french


def test_the_refusal_is_explained_in_french_on_a_french_page(app):
    assert refusals(app, "aaaaaaaaaaaaaaaa", lang="fr") == [
        "Ce mot de passe serait trop facile à deviner.",
        "Les répétitions comme «\u00a0aaa\u00a0» sont faciles à deviner.",
        "Ajoutez un mot ou deux. Les mots peu courants valent mieux.",
        "Évitez de répéter des mots et des caractères.",
    ]
    assert refusals(app, "camillemartin1990xx", lang="fr", **CAMILLE)[:2] == [
        "Ce mot de passe serait trop facile à deviner.",
        "Vos nom, prénom, date de naissance, identifiant et adresse électronique sont ce qu’essaie d’abord "
        "quelqu’un qui vous connaît\u00a0: laissez-les de côté.",
    ]


@pytest.mark.parametrize("length", [15, MAX_LENGTH])
def test_the_estimate_takes_a_fraction_of_a_second(app, length):
    """A guard against a slow estimate (a longer part estimated, more matches), with room for a loaded machine."""
    password = (PASSPHRASE * 3)[:length]
    refusals(app, password)  # the French list is read once, at the first password checked
    started = time.perf_counter()
    for _ in range(5):
        assert refusals(app, password, "jean.dupont", "jean.dupont@example.fr", **CAMILLE) == []
    assert (time.perf_counter() - started) / 5 < 1


def test_only_the_first_64_characters_are_estimated(app):
    weak_tail = PASSPHRASE[:64] + "a" * 64
    weak_head = "a" * 64 + PASSPHRASE[:64]
    assert refusals(app, weak_tail) == []
    assert refusals(app, weak_head)[:2] == [GUESSABLE, 'Repeats like "aaa" are easy to guess.']


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
        assert problems("aaaaaaaaaaaaaaaa")[0] == "Ce mot de passe serait trop facile à deviner."
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
