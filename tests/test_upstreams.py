"""Upstream OpenID Connect providers (issue 14, item 1): `idp upstreams add|list|remove`, and what
Sésame reads of each provider: its discovery document, checked against the issuer, and its keys,
fetched again when a token names a key it does not hold.  The upstream is a real provider on
loopback: a second Sésame, with a database, a Redis prefix and keys of its own, served over HTTP."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from idp.keys import SigningKeys
from idp.models import Upstream
from idp.upstreams import KEYS_REFETCH_EVERY, Metadata, UpstreamError

from conftest import free_port
from helpers import relying_party, run_idp_here, served

SECRET = "le secret de Sésame chez le fournisseur"


def add(app_config, *options, secret=SECRET):
    return run_idp_here(app_config, "upstreams", "add", *options, stdin=f"{secret}\n" if secret else "")


def test_an_upstream_is_added_listed_without_its_secret_and_removed(app_config, db, upstream):
    issuer, _, _ = upstream
    added = add(app_config, "--name", "franceconnect", "--issuer", issuer + "/", "--client-id", "sesame-client",
                "--client-secret-stdin", "--acr-values", "eidas1", "--style", "franceconnect", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {
        "name": "franceconnect",
        "redirect_uri": "http://localhost:5000/federation/franceconnect/callback",
        "post_logout_redirect_uri": "http://localhost:5000/federation/franceconnect/logged-out"}

    stored = db.scalars(select(Upstream)).one()
    assert (stored.issuer, stored.client_id, stored.client_secret) == (issuer, "sesame-client", SECRET)
    assert (stored.scope, stored.acr_values, stored.label, stored.style) == (
        "openid given_name family_name birthdate email", "eidas1", "FranceConnect", "franceconnect")

    listed = run_idp_here(app_config, "upstreams", "list", "--json")
    assert json.loads(listed.stdout) == [{"name": "franceconnect", "issuer": issuer, "client_id": "sesame-client",
                                          "scope": "openid given_name family_name birthdate email",
                                          "acr_values": "eidas1", "label": "FranceConnect",
                                          "style": "franceconnect", "verifies_identity": True}]
    assert SECRET not in listed.stdout + run_idp_here(app_config, "upstreams", "list").stdout

    assert run_idp_here(app_config, "upstreams", "remove", "franceconnect").returncode == 0
    db.expire_all()
    assert db.scalars(select(Upstream)).all() == []
    gone = run_idp_here(app_config, "upstreams", "remove", "franceconnect")
    assert gone.returncode == 1 and gone.stderr.strip() == "Error: no upstream 'franceconnect'"


def test_identity_verification_is_on_for_franceconnect_and_chosen_otherwise(app_config, db, upstream):
    """A provider whose identities come from the registers may recover lost mailboxes; another not, unless said."""
    issuer, _, _ = upstream
    for name, options in (("fc", ("--style", "franceconnect")), ("plain", ()),
                          ("fc-off", ("--style", "franceconnect", "--no-verifies-identity")),
                          ("plain-on", ("--verifies-identity",))):
        added = add(app_config, "--name", name, "--issuer", issuer, "--client-id", "c", "--client-secret-stdin",
                    *options)
        assert added.returncode == 0, added.stderr
    verifies = {item["name"]: item["verifies_identity"]
                for item in json.loads(run_idp_here(app_config, "upstreams", "list", "--json").stdout)}
    assert verifies == {"fc": True, "plain": False, "fc-off": False, "plain-on": True}
    assert "(franceconnect; openid given_name family_name birthdate email; verifies identities)" in run_idp_here(
        app_config, "upstreams", "list").stdout


@pytest.mark.parametrize(("options", "said"), [
    (("--name", "France Connect"), "a name is 1 to 40 lower-case letters"),
    (("--issuer", "http://fournisseur.example.fr"), "https:// URL (http only on a loopback host)"),
    (("--issuer", "https://fournisseur.example.fr/?x=1"), "without query or fragment"),
    (("--scope", "given_name family_name"), "the scope must include openid"),
    (("--secret", ""), "no secret on standard input"),
])
def test_a_bad_registration_is_refused_in_one_line_and_nothing_is_stored(app_config, db, upstream, options, said):
    issuer, _, _ = upstream
    given = {"--name": "fc", "--issuer": issuer, "--scope": None, "--secret": SECRET}
    given.update(dict(zip(options[::2], options[1::2], strict=True)))
    arguments = ["--name", given["--name"], "--issuer", given["--issuer"], "--client-id", "c",
                 "--client-secret-stdin", *(["--scope", given["--scope"]] if given["--scope"] else [])]
    refused = add(app_config, *arguments, secret=given["--secret"])
    assert refused.returncode != 0 and said in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert db.scalars(select(Upstream)).all() == []


def test_a_provider_that_does_not_answer_as_its_issuer_is_refused(app_config, db, upstream):
    issuer, _, _ = upstream
    port = issuer.rsplit(":", 1)[1]
    not_itself = add(app_config, "--name", "fc", "--issuer", f"http://localhost:{port}", "--client-id", "c",
                     "--client-secret-stdin")  # the same server, whose discovery names 127.0.0.1
    assert not_itself.returncode == 1 and "names another issuer" in not_itself.stderr, not_itself.stderr
    with served(relying_party) as elsewhere:  # a web server, not a provider: a page at every path
        not_a_provider = add(app_config, "--name", "fc", "--issuer", elsewhere, "--client-id", "c",
                             "--client-secret-stdin")
    assert not_a_provider.returncode == 1, not_a_provider.stderr
    assert "/.well-known/openid-configuration did not send JSON" in not_a_provider.stderr
    no_document = add(app_config, "--name", "fc", "--issuer", f"{issuer}/nothing-here", "--client-id", "c",
                      "--client-secret-stdin")
    assert no_document.returncode == 1, no_document.stderr
    assert "/nothing-here/.well-known/openid-configuration answered 404" in no_document.stderr
    unreachable = add(app_config, "--name", "fc", "--issuer", f"http://127.0.0.1:{free_port()}", "--client-id", "c",
                      "--client-secret-stdin")
    assert unreachable.returncode == 1 and "could not be reached (ConnectionError)" in unreachable.stderr
    assert db.scalars(select(Upstream)).all() == []
    assert add(app_config, "--name", "fc", "--issuer", issuer, "--client-id", "c",
               "--client-secret-stdin").returncode == 0
    twice = add(app_config, "--name", "fc", "--issuer", issuer, "--client-id", "c", "--client-secret-stdin")
    assert twice.returncode == 1 and "an upstream named 'fc' already exists" in twice.stderr


class Clock:
    """A clock the test moves: the key fetches' spacing is waited for without sleeping."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def signing_kid(keys_file) -> str:
    """The key id the upstream signs with now (what its next ID token will name)."""
    return SigningKeys(keys_file, retention=3600).signing_key("RS256").kid


def test_discovery_is_kept_and_keys_are_fetched_again_for_a_new_key_id_at_most_every_few_seconds(upstream):
    issuer, counted, keys_file = upstream
    clock = Clock()
    metadata = Metadata(clock=clock)
    assert metadata.discovery(issuer)["issuer"] == issuer
    first_kid = signing_kid(keys_file)
    assert metadata.key(issuer, first_kid).kid == first_kid
    assert metadata.discovery(issuer) and metadata.key(issuer, first_kid)  # kept: nothing asked again
    assert counted.paths == ["/.well-known/openid-configuration", "/oauth/jwks"]

    SigningKeys(keys_file, retention=3600).rotate()  # the provider rotates its keys
    new_kid = signing_kid(keys_file)
    clock.now += KEYS_REFETCH_EVERY
    assert metadata.key(issuer, new_kid).kid == new_kid  # unknown: the keys are fetched again
    assert metadata.key(issuer, first_kid).kid == first_kid  # the old key is still published
    assert counted.paths[2:] == ["/oauth/jwks"]

    with pytest.raises(UpstreamError, match="publishes no key 'made-up'"):
        metadata.key(issuer, "made-up")  # too soon after the last fetch: not fetched again
    assert counted.paths[3:] == []
    clock.now += KEYS_REFETCH_EVERY
    with pytest.raises(UpstreamError, match="publishes no key 'made-up'"):
        metadata.key(issuer, "made-up")
    assert counted.paths[3:] == ["/oauth/jwks"]
