"""Sésame as a relying party of an upstream provider (issue 14, item 2, idp/federation.py), against a
real provider on loopback: a second Sésame, served over HTTP, where a citizen signs in.  The routes
and pages come next; these tests drive the relying party's two steps directly."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from idp import upstreams
from idp.federation import FederationError, begin, finish, verify
from idp.upstreams import Metadata

from helpers import make_client, query
from upstream_provider import CALLBACK, sign_in_upstream


@pytest.fixture
def store(app):
    return app.extensions["idp"].redis, app.extensions["idp"].keys



def test_a_citizen_signed_in_upstream_comes_back_verified_with_the_pending_request(provider, store):
    served_app, record = provider
    metadata = Metadata()
    url = begin(*store, metadata, record, CALLBACK, rid="pending-request")
    sent = {name: values[0] for name, values in parse_qs(urlparse(url).query).items()}
    assert sent["code_challenge_method"] == "S256" and sent["nonce"] and sent["state"]  # the provider offers PKCE
    assert (sent["client_id"], sent["redirect_uri"], sent["scope"]) == (record.client_id, CALLBACK,
                                                                        "openid profile email")

    answer = sign_in_upstream(served_app, url)
    assert answer["iss"] == record.issuer  # RFC 9207, checked by finish
    identity = finish(*store, metadata, record, answer)
    assert identity.issuer == record.issuer and identity.subject
    assert (identity.claims["given_name"], identity.claims["family_name"]) == ("Camille", "Martin")
    assert identity.claims["email"] == "camille.martin@example.fr"
    assert identity.rid == "pending-request" and identity.id_token.count(".") == 2

    with pytest.raises(FederationError) as replayed:
        finish(*store, metadata, record, answer)  # the same answer again: its state is spent
    assert replayed.value.kind == "state"


def test_each_failure_has_its_kind(upstream, provider, store):
    served_app, record = provider
    metadata = Metadata()

    def failure(answer) -> str:
        with pytest.raises(FederationError) as error:
            finish(*store, metadata, record, answer)
        return error.value.kind

    state = query(begin(*store, metadata, record, CALLBACK))["state"]
    assert failure({"state": state, "error": "access_denied", "iss": record.issuer}) == "refused"
    assert failure({"state": "made-up", "code": "x", "iss": record.issuer}) == "state"

    url = begin(*store, metadata, record, CALLBACK)
    answer = sign_in_upstream(served_app, url)
    assert failure({**answer, "iss": "https://ailleurs.example.fr"}) == "token"  # a mix-up (RFC 9207)

    url = begin(*store, metadata, record, CALLBACK)
    answer = sign_in_upstream(served_app, url)
    redis = store[0]
    [key] = redis.keys("idp:fed-state:*")
    redis.set(key, json.dumps({**json.loads(redis.get(key)), "nonce": "another"}), keepttl=True)
    assert failure(answer) == "token"  # the ID token's nonce is not the one sent

    upstream[1].acr = None  # the provider answers no acr
    url = begin(*store, metadata, record, CALLBACK)
    assert query(url)["acr_values"] == "eidas1"
    assert failure(sign_in_upstream(served_app, url)) == "acr"
    upstream[1].acr = "eidas1"

    url = begin(*store, metadata, record, CALLBACK)
    answer = sign_in_upstream(served_app, url)
    record.client_secret = "not the secret"
    assert failure(answer) == "refused"  # the provider refuses to exchange the code


def test_the_level_of_assurance_asked_for_is_accepted_when_the_provider_confirms_it(upstream, provider, store):
    """As FranceConnect: acr_values=eidas1 sent, the ID token's acr eidas1 accepted; any other refused."""
    _, counted, _ = upstream
    served_app, record = provider  # asks for eidas1, and the provider answers it
    identity = finish(*store, Metadata(), record, sign_in_upstream(served_app, begin(*store, Metadata(), record,
                                                                                     CALLBACK)))
    assert identity.claims["acr"] == "eidas1" and identity.claims["family_name"] == "Martin"

    counted.acr = "eidas0"
    with pytest.raises(FederationError) as error:
        finish(*store, Metadata(), record, sign_in_upstream(served_app, begin(*store, Metadata(), record, CALLBACK)))
    assert error.value.kind == "acr"


def test_an_unreachable_provider_is_a_failure_of_its_own(upstream, db, app, store):
    issuer, _, _ = upstream
    record = upstreams.add(db, name="fc", issuer=issuer, client_id="c", client_secret="s")
    record.issuer = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(FederationError) as error:
        begin(*store, Metadata(), record, CALLBACK)
    assert error.value.kind == "unreachable"


def test_a_symmetric_signature_is_accepted_only_where_the_provider_says_it_signs_so(provider):
    _, record = provider
    claims = {"iss": record.issuer, "aud": record.client_id, "sub": "x", "exp": 4102444800, "iat": 1, "nonce": "n"}
    token = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(record.client_secret))
    with pytest.raises(FederationError, match="signature algorithm 'HS256' not accepted"):
        verify(Metadata(), {"id_token_signing_alg_values_supported": ["RS256"]}, record, token, nonce="n")
    assert verify(Metadata(), {"id_token_signing_alg_values_supported": ["RS256", "HS256"]}, record, token,
                  nonce="n")["sub"] == "x"
    forged = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key("a guess at the secret, long enough"))
    with pytest.raises(FederationError, match="bad signature"):
        verify(Metadata(), {"id_token_signing_alg_values_supported": ["HS256"]}, record, forged, nonce="n")
    odd_nonce = jwt.encode({"alg": "HS256"}, {**claims, "nonce": "é" * 20}, OctKey.import_key(record.client_secret))
    with pytest.raises(FederationError, match="ID token: nonce"):  # a refusal, not a crash
        verify(Metadata(), {"id_token_signing_alg_values_supported": ["HS256"]}, record, odd_nonce, nonce="n")
    unsigned = token.rsplit(".", 1)[0] + "."
    with pytest.raises(FederationError):
        verify(Metadata(), {"id_token_signing_alg_values_supported": ["HS256"]}, record, unsigned, nonce="n")


def test_the_userinfo_is_read_as_a_signed_jwt_or_as_json(provider, store):
    served_app, record = provider
    discovery = Metadata().discovery(record.issuer)
    assert discovery["userinfo_signing_alg_values_supported"] == ["RS256", "ES256"]
    identity = finish(*store, Metadata(), record, sign_in_upstream(served_app, begin(*store, Metadata(), record,
                                                                                     CALLBACK)))
    assert identity.claims["given_name"] == "Camille"  # the provider's client answers a JWT (the fixture)

    upstream_db = served_app.extensions["idp.db"].session_factory()
    try:
        record.client_id, record.client_secret = make_client(upstream_db, name="En JSON", redirect_uris=[CALLBACK],
                                                             scope="openid profile email")
    finally:
        upstream_db.close()
    identity = finish(*store, Metadata(), record, sign_in_upstream(served_app, begin(*store, Metadata(), record,
                                                                                     CALLBACK)))
    assert identity.claims["family_name"] == "Martin"
