"""The password policy of every form that sets a password (reset, sign-up, account page, ``idp users add``).

It follows NIST SP 800-63B-4 and the CNIL: a long minimum (``IDP_PASSWORD_MIN_LENGTH``,
15 by default), 128 at most, counted in code points after NFKC; no composition rules;
every character accepted, spaces included.  A password is refused when it is one of the
most common breached passwords, contains the citizen's identifier or e-mail address, or
when zxcvbn estimates that fewer than 10^12 guesses find it (README, "Password policy").
zxcvbn is given the citizen's names, birth date, identifier and address, and ranks
French words too.  Each refusal says why, in the user's language.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from zxcvbn import feedback, matching, scoring

MAX_LENGTH = 128
DATA = Path(__file__).resolve().parent / "data"
COMMON_PASSWORDS = DATA / "common-passwords.txt"
FRENCH_WORDS = DATA / "french-words.txt"
SHORTEST_IDENTITY_PART = 4  # shorter parts of a name or address match too many passphrases
# Refused below 10^12 estimated guesses: the README's "Password policy" says why.
FEWEST_GUESSES_LOG10 = 12
# zxcvbn's time grows faster than the square of the length (about 0.1 s for 128 characters
# on a loaded machine, twice over with the separators removed): the first 64 characters
# are estimated, and a password whose first 64 characters are strong is strong.
ESTIMATED_LENGTH = 64
# "le", "à", "de" would match all over a French passphrase, and zxcvbn's time grows with the
# matches; it counts a word of one or two letters much the same whether it knows it or not.
SHORTEST_FRENCH_WORD = 3
# zxcvbn counts each space or dot between words as one more part, and each part multiplies
# its estimate: "camille martin 17/05/1990" would pass.  The password is also estimated
# without them, and the lower estimate counts.
SEPARATORS = re.compile(r"[\s.,;:!?'’/_-]+")

HINT = _l("Use at least %(min)d characters. A phrase of a few words that you will remember makes a good "
          "password; spaces and every character are accepted. Leave out your names and your birth date.")

# zxcvbn's feedback is a fixed set of English sentences (zxcvbn/feedback.py): each has its
# entry in the catalog here, so that a French page explains the refusal in French.
FEEDBACK = {
    "Add another word or two. Uncommon words are better.":
        _l("Add another word or two. Uncommon words are better."),
    "Capitalization doesn't help very much.": _l("Capitalization doesn't help very much."),
    "Reversed words aren't much harder to guess.": _l("Reversed words aren't much harder to guess."),
    "Predictable substitutions like '@' instead of 'a' don't help very much.":
        _l("Predictable substitutions like '@' instead of 'a' don't help very much."),
    "Use a few words, avoid common phrases.": _l("Use a few words, avoid common phrases."),
    "No need for symbols, digits, or uppercase letters.": _l("No need for symbols, digits, or uppercase letters."),
    "Straight rows of keys are easy to guess.": _l("Straight rows of keys are easy to guess."),
    "Short keyboard patterns are easy to guess.": _l("Short keyboard patterns are easy to guess."),
    # zxcvbn advises a longer keyboard pattern; a few words are the better advice.
    "Use a longer keyboard pattern with more turns.": _l("Avoid patterns on the keyboard: use a few words."),
    "This is a top-10 common password.": _l("This is a top-10 common password."),
    "This is a top-100 common password.": _l("This is a top-100 common password."),
    "This is a very common password.": _l("This is a very common password."),
    "This is similar to a commonly used password.": _l("This is similar to a commonly used password."),
    "A word by itself is easy to guess.": _l("A word by itself is easy to guess."),
    "All-uppercase is almost as easy to guess as all-lowercase.":
        _l("All-uppercase is almost as easy to guess as all-lowercase."),
    'Repeats like "aaa" are easy to guess.': _l('Repeats like "aaa" are easy to guess.'),
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".':
        _l('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    "Names and surnames by themselves are easy to guess.": _l("Names and surnames by themselves are easy to guess."),
    "Common names and surnames are easy to guess.": _l("Common names and surnames are easy to guess."),
    "Avoid repeated words and characters.": _l("Avoid repeated words and characters."),
    'Sequences like "abc" or "6543" are easy to guess.': _l('Sequences like "abc" or "6543" are easy to guess.'),
    "Avoid sequences.": _l("Avoid sequences."),
    "Recent years are easy to guess.": _l("Recent years are easy to guess."),
    "Dates are often easy to guess.": _l("Dates are often easy to guess."),
    "Avoid recent years.": _l("Avoid recent years."),
    "Avoid years that are associated with you.": _l("Avoid years that are associated with you."),
    "Avoid dates and years that are associated with you.": _l("Avoid dates and years that are associated with you."),
}


def normalise(password: str) -> str:
    """How a password is stored and compared: NFKC, so the same text typed on any keyboard matches."""
    return unicodedata.normalize("NFKC", password)


def unaccented(text: str) -> str:
    """``été`` as many type it, ``ete``: a word without its accents is just as easy to guess."""
    return "".join(char for char in unicodedata.normalize("NFD", text) if not unicodedata.combining(char))


@functools.cache
def common_passwords() -> frozenset[str]:
    return frozenset(_listed(COMMON_PASSWORDS))


@functools.cache
def french_words() -> dict[str, int]:
    """The French words zxcvbn ranks, by frequency, with their unaccented spellings at the same rank.

    Read once per process, at the first password checked (about 70 ms).
    """
    ranks: dict[str, int] = {}
    for rank, word in enumerate(_listed(FRENCH_WORDS), 1):
        if len(word) >= SHORTEST_FRENCH_WORD:
            ranks.setdefault(word, rank)
            ranks.setdefault(unaccented(word), rank)
    return ranks


def _listed(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def min_length() -> int:
    return current_app.config["IDP_PASSWORD_MIN_LENGTH"]


def hint() -> str:
    return str(HINT) % {"min": min_length()}


def problems(password: str, username: str | None = None, email: str | None = None, *,
             given_name: str | None = None, family_name: str | None = None,
             birthdate: dt.date | None = None) -> list[str]:
    """Why ``password`` is refused, as messages for the citizen; empty when it is accepted.

    The citizen's details are what a guesser who knows them tries first.
    """
    text = normalise(password)
    folded = text.casefold()
    if len(text) < min_length():
        return [_("The password must have at least %(min)d characters (it has %(count)d).",
                  min=min_length(), count=len(text))]
    if len(text) > MAX_LENGTH:
        return [_("The password must have at most %(max)d characters.", max=MAX_LENGTH)]
    reasons = []
    if _is_common(folded):
        reasons.append(_("This password appears in lists of passwords stolen from other sites: choose another."))
    if _contains_identity(folded, username, email):
        reasons.append(_("The password must not contain your identifier or your e-mail address."))
    details = personal_details(username, email, given_name, family_name, birthdate)
    return reasons or _guessable(text, details)


def personal_details(username: str | None, email: str | None, given_name: str | None,
                     family_name: str | None, birthdate: dt.date | None) -> list[str]:
    """The citizen's details as a guesser would type them: each name and its parts, the
    address and its local part, the birth date written the usual ways."""
    details = []
    for name in (username, given_name, family_name):
        if name:
            details += [name, *re.split(r"[\s.'’_-]+", name)]
    if email:
        local = email.partition("@")[0]
        details += [email, local, *re.split(r"[.+_-]+", local)]
    if birthdate:
        details += [birthdate.strftime(form) for form in (
            "%Y", "%d%m%Y", "%d%m%y", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d", "%Y%m%d", "%d%m", "%m%Y")]
    folded = [normalise(detail).strip().casefold() for detail in details]
    return sorted({spelling for detail in folded if detail for spelling in (detail, unaccented(detail))})


def _guessable(text: str, details: list[str]) -> list[str]:
    """zxcvbn's estimate of the guesses needed, and its advice when too few are.

    zxcvbn() itself is not called: it keeps the user's details in a module-wide dictionary,
    which two requests checking passwords at once would overwrite.
    """
    dictionaries = {**matching.RANKED_DICTIONARIES, "french": french_words(),
                    "user_inputs": matching.build_ranked_dict(details)}
    estimated = text[:ESTIMATED_LENGTH]
    squeezed = SEPARATORS.sub("", estimated)
    estimates = [_estimate(spelling, dictionaries) for spelling in {estimated, squeezed} if spelling]
    estimate = min(estimates, key=lambda each: each["guesses"])
    if estimate["guesses_log10"] >= FEWEST_GUESSES_LOG10:
        return []
    # Score 2 asks zxcvbn for its advice, which it gives only below its own score 3.
    advice = feedback.get_feedback(2, estimate["sequence"])
    reasons = [_("This password would be too easy to guess."), *_translated([advice["warning"]])]
    if any(match.get("dictionary_name") == "user_inputs" for match in estimate["sequence"]):
        reasons.append(_("Your names, birth date, identifier and e-mail address are the first things "
                         "tried by someone who knows you: leave them out."))
    return reasons + _translated(advice["suggestions"])


def _estimate(spelling: str, dictionaries: dict[str, dict[str, int]]) -> dict:
    return scoring.most_guessable_match_sequence(spelling, matching.omnimatch(spelling, dictionaries))


def _translated(sentences: list[str]) -> list[str]:
    """zxcvbn's English sentences from the catalog; a sentence of a later zxcvbn that is not
    there yet is left out rather than shown in English on a French page."""
    return [str(FEEDBACK[sentence]) for sentence in sentences if sentence in FEEDBACK]


def _is_common(folded: str) -> bool:
    squeezed = "".join(folded.split())
    return folded in common_passwords() or squeezed in common_passwords()


def _contains_identity(folded: str, username: str | None, email: str | None) -> bool:
    parts = []
    if username:
        parts.append(username.strip().casefold())
    if email:
        address = email.strip().casefold()
        parts += [address, address.partition("@")[0]]
    return any(len(part) >= SHORTEST_IDENTITY_PART and part in folded for part in parts)
