"""The password policy of every form that sets a password (reset, sign-up, account page).

It follows NIST SP 800-63B-4 and the CNIL: a long minimum (``IDP_PASSWORD_MIN_LENGTH``,
15 by default), 128 at most, counted in code points after NFKC; no composition rules;
every character accepted, spaces included; refused when it is one of the most common
breached passwords, is made of a repeated or sequential run, or contains the
citizen's identifier or e-mail address.  Each refusal says why, in the user's language.
"""

from __future__ import annotations

import functools
import itertools
import unicodedata
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

MAX_LENGTH = 128
COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common-passwords.txt"
SHORTEST_IDENTITY_PART = 4  # shorter parts of a name or address match too many passphrases

HINT = _l("Use at least %(min)d characters. A phrase of a few words that you will remember makes a good "
          "password; spaces and every character are accepted.")


def normalise(password: str) -> str:
    """How a password is stored and compared: NFKC, so the same text typed on any keyboard matches."""
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def min_length() -> int:
    return current_app.config["IDP_PASSWORD_MIN_LENGTH"]


def hint() -> str:
    return str(HINT) % {"min": min_length()}


def problems(password: str, username: str | None = None, email: str | None = None) -> list[str]:
    """Why ``password`` is refused, as messages for the citizen; empty when it is accepted."""
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
    elif _is_run(folded):
        reasons.append(_("This password repeats a character or follows a sequence: choose another."))
    if _contains_identity(folded, username, email):
        reasons.append(_("The password must not contain your identifier or your e-mail address."))
    return reasons


def _is_common(folded: str) -> bool:
    squeezed = "".join(folded.split())
    return folded in common_passwords() or squeezed in common_passwords()


def _is_run(folded: str) -> bool:
    """``aaaaaaaa…``, ``abcdefgh…``, ``98765432…``, or a short pattern repeated (``abcabcabc…``)."""
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(folded)}
    if len(steps) == 1 and abs(next(iter(steps))) <= 1:
        return True
    return any(folded == folded[:size] * (len(folded) // size) + folded[: len(folded) % size]
               for size in range(1, 4))


def _contains_identity(folded: str, username: str | None, email: str | None) -> bool:
    parts = []
    if username:
        parts.append(username.strip().casefold())
    if email:
        address = email.strip().casefold()
        parts += [address, address.partition("@")[0]]
    return any(len(part) >= SHORTEST_IDENTITY_PART and part in folded for part in parts)
