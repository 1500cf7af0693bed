"""The provider as the certification plans meet it: an https issuer, one citizen with every claim the
provider keeps, and the "static client" a deployer registers for the suite (``client_secret_basic``).

Each plan's module imports these fixtures: a conftest.py here would be a second module named
``conftest`` beside tests/conftest.py, from which other test modules import names."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from conformance_suite import ISSUER, POST_LOGOUT_REDIRECT_URI, REDIRECT_URI, USERNAME, Module

from idp.oidc.claims import check_admin_set, set_admin_claims

from helpers import make_client, make_user

SCOPE = "openid profile email address phone"


@pytest.fixture
def database_url(tmp_path, sqlite_template):
    """SQLite only: these tests grade the protocol, which the database does not change (the SQL the
    flows use is covered on PostgreSQL by the rest of the suite)."""
    path = tmp_path / "idp.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(build_app):
    return build_app(IDP_ISSUER=ISSUER)


@pytest.fixture
def citizen(db):
    user = make_user(db, username=USERNAME, email="jean.dupont@example.fr", birthdate=dt.date(1980, 5, 17))
    user.phone_number = "+33 6 12 34 56 78"
    user.street_address = "3 rue des Lilas"
    user.postal_code = "35000"
    user.locality = "Rennes"
    # The claims no citizen is asked for, set on the tester's account as the help desk would set them
    # (PATCH /admin/api/users/{user} with "claims"): the profile scope's modules expect every one.
    set_admin_claims(user, check_admin_set({
        "middle_name": "Marie", "nickname": "Jeannot", "gender": "male",
        "profile": "https://profils.example.fr/jean", "picture": "https://profils.example.fr/jean.png",
        "website": "https://jean.example.fr/"}))
    db.commit()
    return user


@pytest.fixture
def static_client(db, citizen):
    """What the tester registers for the plans: the suite's redirect and post-logout URIs."""
    return make_client(
        db,
        name="Conformance suite",
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[POST_LOGOUT_REDIRECT_URI],
        scope=SCOPE,
    )


@pytest.fixture
def second_client(db, citizen):
    """client2 of the modules that use two clients (oidcc-refresh-token)."""
    return make_client(
        db,
        name="Conformance suite, second client",
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[POST_LOGOUT_REDIRECT_URI],
        scope=SCOPE,
    )


@pytest.fixture
def module(app, static_client, request):
    """The suite's relying party for this test's module, configured (discovery, keys, client)."""
    client_id, secret = static_client
    name = request.node.name.removeprefix("test_").replace("_", "-")
    rp = Module(name, app.test_client(), client_id, secret)
    rp.configure()
    return rp
