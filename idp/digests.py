"""Keyed digests of what citizens type, for Redis keys and audit rows.

People sometimes type a password into the identifier field, and a plain SHA-256 of a short
text is reversed by guessing it.  An HMAC-SHA256 under the instance secret
(``SECRET_KEY``) cannot be guessed without that secret, yet the same text still gives the
same digest, so counters and the help desk can still group what belongs together.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app

from .users import email_key, username_key


def keyed_hash(text: str) -> str:
    secret = current_app.config["SECRET_KEY"]
    secret = secret if isinstance(secret, bytes) else secret.encode()
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def typed_login(typed: str) -> str:
    """The keyed hash of an identifier or e-mail address as typed, normalised as the account lookup
    does: every way of typing one name gives one digest, in limiter keys and audit rows alike."""
    typed = typed.strip()
    return keyed_hash(email_key(typed) if "@" in typed else username_key(typed))
