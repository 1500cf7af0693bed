"""What stands in front of the admin API: only the operators' networks see it (IDP_ADMIN_NETWORKS,
after IDP_TRUSTED_PROXIES), the token is checked before the body is read, the body is capped, and
a token dies with its client or its client's idp:admin scope."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import update

from idp.config import ConfigError
from idp.models import Client

from helpers import get_code, idp_env, make_client, make_user, redeem, run_idp

USERS = "/admin/api/users"
AUDIT = "/admin/api/audit"
OUTSIDE, INSIDE = "203.0.113.5", "10.1.2.3"


class UnreadBody(io.RawIOBase):
    """A request body of ``size`` bytes that fails the request if the app reads a single byte of it."""

    def __init__(self, size: int):
        self.size, self.position = size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:  # the test client measures the body this way
        self.position = self.size + offset if whence == 2 else offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        raise AssertionError("the admin API read the body")


def admin_token(client, db, scope: str = "idp:admin") -> tuple[str, str]:
    client_id, secret = make_client(db, name="Assistance", redirect_uris=[], grant_types=["client_credentials"],
                                    scope=scope)
    answer = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": scope},
                         auth=(client_id, secret))
    assert answer.status_code == 200, answer.data
    return client_id, answer.get_json()["access_token"]


def from_address(app, address: str):
    """A test client calling from ``address``."""
    http = app.test_client()
    http.environ_base["REMOTE_ADDR"] = address
    return http


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_unknown_path(answer) -> None:
    """The same answer as a path that does not exist."""
    assert answer.status_code == 404, answer.data
    assert answer.get_json()["error"] == "not_found"


# Networks -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "from_loopback"), [
    (USERS, 400), ("/admin/api/openapi.json", 200), (AUDIT, 200), ("/admin/api/users/1/revoke", 405)])
def test_outside_the_admin_networks_the_api_does_not_exist(app, client, db, path, from_loopback):
    _, token = admin_token(client, db)
    stranger = from_address(app, OUTSIDE)

    answer = stranger.get(path, headers=bearer(token))

    assert_unknown_path(answer)
    assert answer.get_json() == stranger.get("/admin/api/no-such-thing").get_json()
    assert client.get(path, headers=bearer(token)).status_code == from_loopback  # the same call, from loopback


def test_an_address_inside_a_configured_network_is_served(build_app, db):
    app = build_app(IDP_ADMIN_NETWORKS="198.51.100.0/24, 2001:db8::/32")
    _, token = admin_token(app.test_client(), db)

    assert from_address(app, "198.51.100.20").get(AUDIT, headers=bearer(token)) \
        .status_code == 200
    assert from_address(app, "2001:db8::7").get(AUDIT, headers=bearer(token)) \
        .status_code == 200
    assert_unknown_path(app.test_client().get(AUDIT, headers=bearer(token)))  # loopback is no longer listed


def test_the_default_networks_are_loopback_and_the_private_ranges(app, client, db):
    _, token = admin_token(client, db)
    for address in ("127.0.0.1", "::1", "10.9.8.7", "172.31.0.1", "192.168.1.1"):
        assert from_address(app, address).get(AUDIT, headers=bearer(token)) \
            .status_code == 200, address
    for address in ("172.32.0.1", "8.8.8.8", "2001:db8::1"):
        assert_unknown_path(from_address(app, address).get(AUDIT, headers=bearer(token)))


def test_behind_a_trusted_proxy_the_forwarded_address_decides(build_app, db):
    app = build_app(IDP_TRUSTED_PROXIES=1)
    _, token = admin_token(app.test_client(), db)
    proxy = from_address(app, INSIDE)  # the proxy itself sits on the private network

    assert_unknown_path(proxy.get(AUDIT, headers={**bearer(token), "X-Forwarded-For": OUTSIDE}))
    assert proxy.get(AUDIT, headers={**bearer(token), "X-Forwarded-For": "192.168.0.9"}).status_code == 200


def test_without_a_trusted_proxy_a_forwarded_address_is_ignored(app, client, db):
    _, token = admin_token(client, db)
    stranger = from_address(app, OUTSIDE)

    assert_unknown_path(stranger.get(AUDIT, headers={**bearer(token), "X-Forwarded-For": "127.0.0.1"}))


@pytest.mark.parametrize("value", ["10.0.0.0/33", "localhost", "10.0.0.1/8", "127.0.0.0/8,,nonsense"])
def test_a_bad_network_stops_the_start_naming_the_setting(build_app, value):
    with pytest.raises(ConfigError, match=r"^IDP_ADMIN_NETWORKS: .* is not a network"):
        build_app(IDP_ADMIN_NETWORKS=value)


# The token before the body ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_a_caller_without_token_is_refused_before_its_body_is_read(client, content_type):
    answer = client.post(f"{USERS}/1/revoke", input_stream=UnreadBody(200 * 1024 * 1024), content_type=content_type)

    assert answer.status_code == 401, answer.data
    assert answer.get_json()["error"] == "unauthorized"


def test_a_stranger_is_refused_before_its_body_is_read(app):
    stranger = from_address(app, OUTSIDE)
    answer = stranger.post(f"{USERS}/1/revoke", input_stream=UnreadBody(1000), content_type="application/json")

    assert_unknown_path(answer)


def test_a_body_over_the_cap_is_refused_unread_even_with_a_good_token(client, db):
    _, token = admin_token(client, db)
    answer = client.post(f"{USERS}/1/revoke", input_stream=UnreadBody(64 * 1024 + 1), content_type="application/json",
                         headers=bearer(token))

    assert answer.status_code == 413, answer.data
    assert answer.get_json()["error"] == "request_entity_too_large"


def test_a_chunked_body_is_cut_at_the_cap(client, db):
    """No Content-Length: the stream, which the server ends (``wsgi.input_terminated``), stops at the cap."""
    user = make_user(db)
    _, token = admin_token(client, db)
    endless = io.BytesIO(b'{"what": ["sessions"], "x": "' + b"a" * (1024 * 1024) + b'"}')
    answer = client.post(f"{USERS}/{user.id}/revoke", input_stream=endless, content_type="application/json",
                         headers={**bearer(token), "Transfer-Encoding": "chunked"},
                         environ_overrides={"wsgi.input_terminated": True})

    assert answer.status_code == 413, answer.data
    assert endless.tell() == 64 * 1024 + 1  # the cap and one byte more: enough to know


def test_a_small_body_with_a_good_token_is_served(client, db):
    user = make_user(db)
    _, token = admin_token(client, db)
    answer = client.post(f"{USERS}/{user.id}/revoke", json={"what": ["sessions"]}, headers=bearer(token))

    assert answer.status_code == 200, answer.data
    assert answer.get_json() == {"revoked": {"sessions": 0}}


# A token dies with its client ---------------------------------------------------------------------------------------

def test_removing_the_client_with_the_cli_ends_its_admin_tokens_at_once(app, client, db, app_config):
    client_id, token = admin_token(client, db)
    assert client.get(AUDIT, headers=bearer(token)).status_code == 200

    removed = run_idp(idp_env(app_config), "clients", "remove", "--", client_id)  # "--": an id may start with "-"
    assert removed.returncode == 0, removed.stderr

    answer = client.get(AUDIT, headers=bearer(token))
    assert answer.status_code == 401, answer.data
    assert answer.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_taking_the_scope_away_from_the_client_ends_its_admin_tokens_at_once(app, client, db, build_app):
    client_id, token = admin_token(client, db)
    other_instance = build_app().test_client()  # another worker or host: nothing cached anywhere
    assert other_instance.get(AUDIT, headers=bearer(token)).status_code == 200

    db.execute(update(Client).where(Client.client_id == client_id).values(scope="openid"))
    db.commit()

    for http in (client, other_instance):
        answer = http.get(AUDIT, headers=bearer(token))
        assert answer.status_code == 403, answer.data
        assert answer.get_json()["error"] == "insufficient_scope"


def test_a_removed_clients_user_tokens_fail_at_userinfo(app, client, db, app_config):
    make_user(db)
    client_id, secret = make_client(db)
    tokens = redeem(client, client_id, secret, get_code(client, client_id)["code"]).get_json()
    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 200

    assert run_idp(idp_env(app_config), "clients", "remove", "--", client_id).returncode == 0

    answer = client.get("/oauth/userinfo", headers=bearer(tokens["access_token"]))
    assert answer.status_code == 401, answer.data
    assert answer.get_json()["error"] == "invalid_token"
