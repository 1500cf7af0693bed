"""Who a person is, as sign-up and the help desk compare it: names folded the way people write
them differently, and the masked address shown when an account already exists (no app needed)."""

from __future__ import annotations

import pytest

from idp.identity import mask_email, name_key

MASK = "•••"


# Names ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("Élodie", "elodie"),
        ("elodie", "elodie"),
        ("ÉLODIE", "elodie"),
        ("Jean-Pierre", "jeanpierre"),
        ("jean pierre", "jeanpierre"),
        ("JeanPierre", "jeanpierre"),
        ("D'Artagnan", "dartagnan"),
        ("D’Artagnan", "dartagnan"),
        ("dartagnan", "dartagnan"),
        ("  Müller ", "muller"),
        ("François-Xavier", "francoisxavier"),
        ("francois  xavier", "francoisxavier"),
        ("Anne\u00a0Sophie", "annesophie"),  # a no-break space pasted from a document
        ("Zoë Lefèvre-Noël", "zoelefevrenoel"),
    ],
)
def test_name_is_folded_to_letters_and_digits(typed, folded):
    assert name_key(typed) == folded


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Élodie", "elodie"),
        ("Jean-Pierre", "jean pierre"),
        ("Jean-Pierre", "JeanPierre"),
        ("D'Artagnan", "dartagnan"),
        ("D'Artagnan", "D’Artagnan"),
        ("  Müller ", "muller"),
        ("François-Xavier", "francois xavier"),
        ("LE GOFF", "Le Goff"),
    ],
)
def test_same_name_written_differently_is_the_same_person(one, other):
    assert name_key(one) == name_key(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Jean", "Jeanne"),
        ("Dupont", "Dupond"),
        ("Marie-Anne", "Marianne"),
        ("Élodie", "Éloïse"),
        ("Muller", "Mullers"),
        ("Jean-Pierre", "Pierre-Jean"),
    ],
)
def test_different_names_differ(one, other):
    assert name_key(one) != name_key(other)


# Masked addresses ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("a@example.fr", "•••@e•••.fr"),  # 1 character: nothing of it shown
        ("ab@example.fr", "a•••@e•••.fr"),  # 2: one
        ("abc@example.fr", "a•••@e•••.fr"),  # 3: still one (half, rounded down)
        ("abcdef@example.fr", "abc•••@e•••.fr"),  # 6: three
        ("jeanne.martin@orange.fr", "jea•••@o•••.fr"),  # 13: three at most
        ("x@localhost", "•••@l•••"),  # a single-label domain: no dot, no label
        ("a.b@mail.example.co.uk", "a•••@m•••.uk"),  # only the last label is kept
    ],
)
def test_address_is_masked(address, masked):
    assert mask_email(address) == masked


ADDRESSES = [
    "a@example.fr", "ab@example.fr", "abc@example.fr", "abcd@example.fr", "abcde@example.fr", "abcdef@example.fr",
    "abcdefg@example.fr", "jeanne.martin@orange.fr", "x@localhost", "a.b@mail.example.co.uk",
    "tres.long.prenom.compose.nom@sous.domaine.region.example", "z9@x.io",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_mask_shows_at_most_half_and_three_characters_of_the_local_part(address):
    local = address.rpartition("@")[0]
    masked = mask_email(address)
    shown_local, _, shown_domain = masked.rpartition("@")

    assert shown_local.endswith(MASK) and shown_domain.count(MASK) == 1
    shown = shown_local.removesuffix(MASK)
    assert local.startswith(shown)
    assert len(shown) <= len(local) // 2
    assert len(shown) <= 3


@pytest.mark.parametrize("address", ADDRESSES)
def test_mask_shows_the_first_letter_and_last_label_of_the_domain_only(address):
    domain = address.rpartition("@")[2]
    labels = domain.split(".")
    expected = domain[0] + MASK + ("." + labels[-1] if len(labels) > 1 else "")

    assert mask_email(address).rpartition("@")[2] == expected
    for hidden in labels[:-1] if len(labels) > 1 else labels:
        if len(hidden) > 1:
            assert hidden not in mask_email(address)
