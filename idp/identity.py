"""Who a person is, as sign-up compares it: names folded the way people write them
differently, and the masked e-mail address shown when an account already exists."""

from __future__ import annotations

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


def mask_email(address: str) -> str:
    """``jeanne.martin@orange.fr`` → ``jea•••@o•••.fr``: enough for its owner to recognise it.

    At most half of the local part is shown, three characters at most; then the first
    letter of the domain, and its last label."""
    local, _, domain = address.strip().rpartition("@")
    shown = min(3, len(local) // 2)
    labels = domain.split(".")
    tail = "." + labels[-1] if len(labels) > 1 else ""
    return f"{local[:shown]}{MASK}@{domain[:1]}{MASK}{tail}"
