"""TOTP (RFC 6238) and recovery codes: the published test vectors, the drift window, a
code never accepted twice, and recovery codes stored salted and hashed."""

from __future__ import annotations

import base64
import re

import pytest

from idp import totp

RFC_SECRET_SHA1 = base64.b32encode(b"12345678901234567890").decode()
RFC_SECRET_SHA256 = base64.b32encode(b"12345678901234567890123456789012").decode()


@pytest.mark.parametrize(("when", "expected"), [
    (59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
    (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130"),
])
def test_the_codes_are_those_of_rfc_6238_appendix_b(when, expected):
    assert totp.code_at(RFC_SECRET_SHA1, when // 30, digits=8) == expected


def test_the_sha256_vector_of_rfc_6238_too():
    assert totp.code_at(RFC_SECRET_SHA256, 59 // 30, digits=8, digest="sha256") == "46119246"


def test_a_code_matches_within_one_step_either_side_and_not_beyond():
    secret = totp.new_secret()
    now = 1_800_000_000.0
    step = totp.current_step(now)
    for offset in (-1, 0, 1):
        assert totp.matching_step(secret, totp.code_at(secret, step + offset), None, now) == step + offset
    for offset in (-3, -2, 2, 3):
        code = totp.code_at(secret, step + offset)
        if all(code != totp.code_at(secret, step + near) for near in (-1, 0, 1)):
            assert totp.matching_step(secret, code, None, now) is None


def test_a_code_is_never_accepted_twice_nor_an_older_one_after_a_newer():
    secret = totp.new_secret()
    now = 1_800_000_000.0
    step = totp.current_step(now)
    used = totp.matching_step(secret, totp.code_at(secret, step), None, now)
    assert used == step
    assert totp.matching_step(secret, totp.code_at(secret, step), used, now) is None
    assert totp.matching_step(secret, totp.code_at(secret, step - 1), used, now) is None
    assert totp.matching_step(secret, totp.code_at(secret, step + 1), used, now) == step + 1


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "12 34 5x", "١٢٣٤٥٦", "9" * 10_000])
def test_odd_input_matches_nothing(typed):
    assert totp.matching_step(totp.new_secret(), typed, None) is None


def test_spaces_typed_in_a_code_are_ignored():
    secret = totp.new_secret()
    code = totp.code_at(secret, totp.current_step())
    assert totp.matching_step(secret, f" {code[:3]} {code[3:]} ", None) is not None


def test_secrets_carry_160_random_bits_in_base32():
    secrets_made = {totp.new_secret() for _ in range(50)}
    assert len(secrets_made) == 50
    assert all(re.fullmatch(r"[A-Z2-7]{32}", s) for s in secrets_made)


def test_the_provisioning_uri_names_the_issuer_and_the_account():
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", "jean.dupont", "Sésame")
    assert uri.startswith("otpauth://totp/S%C3%A9same%3Ajean.dupont?")
    assert "secret=JBSWY3DPEHPK3PXP" in uri and "issuer=S%C3%A9same" in uri and "period=30" in uri


def test_the_qr_code_is_an_svg_without_script():
    svg = totp.qr_svg(totp.provisioning_uri(totp.new_secret(), "jean.dupont", "Sésame"))
    assert svg.lstrip().startswith("<svg") and "<script" not in svg and "<path" in svg


def test_ten_recovery_codes_are_distinct_and_readable():
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 == len(set(codes))
    assert all(re.fullmatch(r"([2-9A-HJ-NP-Z]{4}-){3}[2-9A-HJ-NP-Z]{4}", code) for code in codes)


def test_recovery_codes_are_stored_salted_and_match_however_typed():
    codes = totp.new_recovery_codes()
    hashes = [totp.hash_recovery_code(code) for code in codes]
    assert not any(code.replace("-", "") in stored for code in codes for stored in hashes)
    assert totp.hash_recovery_code(codes[0]) != hashes[0]  # a fresh salt each time
    assert totp.matching_recovery_code(codes[3].lower().replace("-", " "), hashes) == 3
    assert totp.matching_recovery_code(codes[3], hashes[:3]) is None
    assert totp.matching_recovery_code("", hashes) is None
    assert totp.matching_recovery_code("A" * 100_000, hashes) is None
