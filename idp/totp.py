"""Time-based one-time passwords (RFC 6238) and recovery codes: the second factor.

A TOTP secret is 160 random bits (RFC 4226 §4 recommends it), shown to the citizen once as
base32 text and as a QR code of its ``otpauth://`` URI.  A code is HMAC-SHA1 of the 30-second
step number, truncated to 6 digits (RFC 4226 §5.3).  One step either side is accepted for
clock drift, and a code is never accepted twice: the caller keeps the last accepted step
and passes it back, and only later steps match.

Recovery codes are ten single-use codes of 80 random bits (16 characters of an alphabet
without look-alikes).  They are stored as salted SHA-256: with that much entropy a fast
hash is safe (ASVS 4.0 2.6.2 asks for a 32-bit salt below 112 bits; these carry 64).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
import urllib.parse

STEP = 30
DIGITS = 6
DRIFT = 1  # steps accepted on each side of now
RECOVERY_CODES = 10
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols: no 0/O, no 1/I
_RECOVERY_LENGTH = 16  # 16 × 5 bits


def new_secret() -> str:
    """A new shared secret, base32 without padding (what authenticator apps expect)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def code_at(secret: str, step: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    """The code of time step ``step`` (HOTP of the step counter, RFC 4226 §5.3)."""
    mac = hmac.new(_key(secret), struct.pack(">Q", step), digest).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP)


def matching_step(secret: str, code: str, last_step: int | None, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to, within the drift window and after ``last_step``
    (a code already used, or an older one, never matches); ``None`` when it matches none."""
    code = "".join(code.split())
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    found = None
    step = current_step(now)
    for candidate in range(step - DRIFT, step + DRIFT + 1):
        # every candidate is computed and compared, so the time taken says nothing of which matched
        if hmac.compare_digest(code_at(secret, candidate), code) and (last_step is None or candidate > last_step):
            found = candidate
    return found


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI an authenticator app reads from the QR code."""
    label = urllib.parse.quote(f"{issuer}:{account}", safe="")
    query = urllib.parse.urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1",
                                    "digits": DIGITS, "period": STEP}, quote_via=urllib.parse.quote)
    return f"otpauth://totp/{label}?{query}"


def qr_svg(uri: str) -> str:
    """The QR code of ``uri`` as an inline SVG document (made on the server: no script)."""
    import io

    import segno

    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, border=4, xmldecl=False, svgns=True,
                                    title="QR code", dark="#000", light="#fff")
    return out.getvalue().decode()


def new_recovery_codes() -> list[str]:
    """Ten fresh codes, as the citizen will type them (groups of four, any case, spaces or
    dashes ignored)."""
    return ["-".join(code[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4))
            for code in ("".join(secrets.choice(_ALPHABET) for _ in range(_RECOVERY_LENGTH))
                         for _ in range(RECOVERY_CODES))]


def _normal(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isascii() and ch.isalnum())


def hash_recovery_code(code: str, salt: bytes | None = None) -> str:
    """``<salt hex>$<sha256 hex>`` of the code, normalised."""
    salt = secrets.token_bytes(8) if salt is None else salt
    digest = hashlib.sha256(salt + _normal(code).encode()).hexdigest()
    return f"{salt.hex()}${digest}"


def matching_recovery_code(code: str, hashes: list[str]) -> int | None:
    """Index in ``hashes`` of the stored hash ``code`` matches, or ``None``; every stored
    hash is compared, in constant time."""
    found = None
    typed = _normal(code)
    if len(typed) != _RECOVERY_LENGTH:
        return None
    for index, stored in enumerate(hashes):
        salt, _, digest = stored.partition("$")
        candidate = hashlib.sha256(bytes.fromhex(salt) + typed.encode()).hexdigest()
        if hmac.compare_digest(candidate, digest):
            found = index
    return found
