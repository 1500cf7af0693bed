"""Who a person is, as sign-up compares it: names folded the way people write them
differently, birth dates read the way people type them, and the masked e-mail address
shown when an account already exists."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

MASK = "•••"
# Letters people also write spelled out (Lætitia, Laetitia), and the modifier apostrophe (Dʼ).
_SPELLED_OUT = str.maketrans({"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "\u02bc": None})


def name_key(name: str) -> str:
    """``Élodie`` = ``elodie``, ``Jean-Pierre`` = ``jean pierre``, ``D'Artagnan`` = ``dartagnan``.

    Accents, case, hyphens, apostrophes and spaces are ignored: only letters and digits count."""
    decomposed = unicodedata.normalize("NFKD", name.casefold().translate(_SPELLED_OUT))
    kept = (char for char in decomposed if not unicodedata.combining(char) and char.isalnum())
    return "".join(kept)[:100]


_SEPARATOR = r"(?:\s*[/.-]\s*|\s+)"  # 03/11/1987, 03-11-1987, 03.11.1987, 03 11 1987
_DAY_FIRST = re.compile(rf"(?P<day>[0-9]{{1,2}}){_SEPARATOR}(?P<month>[0-9]{{1,2}}){_SEPARATOR}(?P<year>[0-9]{{4}})")
_YEAR_FIRST = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})")  # ISO 8601: 1987-11-03
# 03111987: a phone's numeric keypad (the field's inputmode) may have no separator key.
_DIGITS_ONLY = re.compile(r"(?P<day>[0-9]{2})(?P<month>[0-9]{2})(?P<year>[0-9]{4})")
EARLIEST_BIRTHDATE = dt.date(1900, 1, 1)


def birthdate_numbers(text: str) -> tuple[int, int, int] | None:
    """(year, month, day) of a date typed day first (``3/11/1987``, ``03111987``) or year first
    (``1987-11-03``), whether or not that day exists; None when the text is neither.

    Day first is how French people write a date; a two-digit year is refused (1920 or 2020?)."""
    for written in (_DAY_FIRST, _YEAR_FIRST, _DIGITS_ONLY):
        if found := written.fullmatch(text.strip()):
            return int(found["year"]), int(found["month"]), int(found["day"])
    return None


def parse_birthdate(text: str) -> dt.date | None:
    """The date ``text`` means (see ``birthdate_numbers``), or None when it is no day of the calendar (31/02/1990)."""
    numbers = birthdate_numbers(text)
    try:
        return dt.date(*numbers) if numbers else None
    except ValueError:
        return None


def mask_email(address: str) -> str:
    """``jeanne.martin@orange.fr`` → ``jea•••@o•••.fr``: enough for its owner to recognise it.

    At most half of the local part is shown, three characters at most; then the first
    letter of the domain, and its last label."""
    local, _, domain = address.strip().rpartition("@")
    shown = min(3, len(local) // 2)
    labels = domain.split(".")
    tail = "." + labels[-1] if len(labels) > 1 else ""
    return f"{local[:shown]}{MASK}@{domain[:1]}{MASK}{tail}"
