"""Derive ``idp/data/french-words.txt``, the French words the password policy knows, from ``wordfreq``.

zxcvbn ranks English words, names and breached passwords; a French citizen's weak
password is made of French words, which it would count as random letters.  This writes
the most frequent French words, most frequent first (the policy uses the line number as
the rank), keeping only words made of letters (an inner apostrophe or hyphen allowed):
digits, dates and keyboard runs are zxcvbn's own matchers.  The list is shipped rather
than read from ``wordfreq`` at run time: that package weighs about 60 MB installed with
its dependencies, for 30,000 words.  Run once when updating the list:

    pip install wordfreq && python tools/derive_french_words.py
"""

from __future__ import annotations

import re
import unicodedata
from importlib.metadata import version
from pathlib import Path

import wordfreq

OUT = Path(__file__).resolve().parent.parent / "idp" / "data" / "french-words.txt"
WORDS = 30_000
WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def main() -> None:
    seen: dict[str, None] = {}
    for word in wordfreq.top_n_list("fr", WORDS * 2):
        folded = unicodedata.normalize("NFKC", word).casefold()
        if WORD.fullmatch(folded) and len(seen) < WORDS:
            seen.setdefault(folded)
    header = (f"# The {len(seen)} most frequent French words, most frequent first, from wordfreq "
              f"{version('wordfreq')} (tools/derive_french_words.py).\n")
    OUT.write_text(header + "\n".join(seen) + "\n", encoding="utf-8")
    print(f"{len(seen)} words written to {OUT}")


if __name__ == "__main__":
    main()
