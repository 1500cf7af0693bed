"""Authentication context classes (OpenID Connect Core §3.1.2.1, ``acr_values`` and the ``acr``
claim): what a sign-in proved, named for the relying parties that ask.

- ``ONE_FACTOR``: a password alone, or an identity from an upstream provider;
- ``TWO_FACTORS``: a password and a code (``amr`` ``otp``), or a passkey checked with user
  verification (``hwk``/``swk`` with ``user``: something held and something known or inherent).

``acr_values`` is a voluntary request: when it names ``TWO_FACTORS`` and the browser's sign-in proved
less, the citizen is asked to sign in again, and the login page says a passkey or the code is
wanted; if that sign-in still proves one factor (an account with neither), the service gets the
code with ``acr`` ``ONE_FACTOR`` and decides.  The ``acr`` claim is in the ID token whenever the
request had ``acr_values``.
"""

from __future__ import annotations

ONE_FACTOR = "urn:sesame:acr:1fa"
TWO_FACTORS = "urn:sesame:acr:2fa"
SUPPORTED = [ONE_FACTOR, TWO_FACTORS]
SECOND_FACTORS = {"otp", "hwk", "swk"}  # RFC 8176 values that make a sign-in two factors here


def of(amr: list[str] | None) -> str:
    """The class a sign-in with these ``amr`` values meets."""
    return TWO_FACTORS if SECOND_FACTORS & set(amr or ()) else ONE_FACTOR


def requested(acr_values: str | None) -> list[str]:
    """The classes asked, in the request's order (unknown ones ignored, as the parameter is voluntary)."""
    return [value for value in (acr_values or "").split() if value in SUPPORTED]


def wants_two_factors(acr_values: str | None) -> bool:
    """The request asks for two factors and for nothing weaker first."""
    asked = requested(acr_values)
    return bool(asked) and asked[0] == TWO_FACTORS
