"""What every answer tells the browser: no framing, no sniffing, no referrer, and no caching of anything
but the public documents (discovery, keys)."""

import pytest

from helpers import authorize_url, get_code, login, make_client, make_user, redeem


@pytest.mark.parametrize("path", ["/login", "/nope", "/oauth/authorize?client_id=nobody"])
def test_pages_refuse_framing_and_caching(client, path):
    response = client.get(path)
    assert response.mimetype == "text/html"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_published_keys_stay_cacheable(client):
    response = client.get("/oauth/jwks")
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/.well-known/openid-configuration"), ("get", "/oauth/jwks"), ("post", "/oauth/token"),
    ("get", "/oauth/userinfo"), ("post", "/oauth/revoke"),
])
def test_protocol_endpoints_answer_browser_based_relying_parties(client, method, path):
    response = getattr(client, method)(path, headers={"Origin": "https://spa.example.fr"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


@pytest.mark.parametrize("path", ["/login", "/oauth/introspect"])
def test_pages_and_confidential_endpoints_are_not_shared_across_origins(client, path):
    assert "Access-Control-Allow-Origin" not in client.get(path, headers={"Origin": "https://spa.example.fr"}).headers


# No caching of what carries personal data or tokens ----------------------------------------------------------------

def tokens_of_jean(client, db) -> tuple[dict, tuple[str, str]]:
    make_user(db)
    client_id, secret = make_client(db)
    answer = redeem(client, client_id, secret, get_code(client, client_id)["code"])
    assert answer.status_code == 200, answer.data
    return answer.get_json(), (client_id, secret)


def admin_token(client, db) -> str:
    client_id, secret = make_client(db, name="Assistance", redirect_uris=[], grant_types=["client_credentials"],
                                    scope="idp:admin")
    answer = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "idp:admin"},
                         auth=(client_id, secret))
    return answer.get_json()["access_token"]


def test_every_json_answer_with_personal_data_or_tokens_is_not_stored(client, db):
    tokens, rp = tokens_of_jean(client, db)
    admin = {"Authorization": f"Bearer {admin_token(client, db)}"}
    user = {"Authorization": f"Bearer {tokens['access_token']}"}
    answers = {
        "userinfo": client.get("/oauth/userinfo", headers=user),
        "userinfo, no token": client.get("/oauth/userinfo"),
        "userinfo, bad token": client.get("/oauth/userinfo", headers={"Authorization": "Bearer nope"}),
        "introspection": client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=rp),
        "introspection, bad client": client.post("/oauth/introspect", data={"token": "x"}, auth=(rp[0], "wrong")),
        "token, bad code": client.post("/oauth/token", data={"grant_type": "authorization_code", "code": "x"},
                                       auth=rp),
        "revocation": client.post("/oauth/revoke", data={"token": tokens["refresh_token"]}, auth=rp),
        "admin, a user": client.get("/admin/api/users/jean.dupont", headers=admin),
        "admin, the audit": client.get("/admin/api/audit", headers=admin),
        "admin, no token": client.get("/admin/api/users/jean.dupont"),
        "admin, unknown user": client.get("/admin/api/users/nobody", headers=admin),
        "admin, bad body": client.patch("/admin/api/users/jean.dupont", data="{", content_type="application/json",
                                        headers=admin),
        "admin, unknown path": client.get("/admin/api/nothing-here", headers=admin),
        "health": client.get("/readyz"),
    }
    assert answers["userinfo"].status_code == 200 and answers["userinfo"].get_json()["email"]
    assert answers["admin, a user"].status_code == 200 and answers["admin, a user"].get_json()["email"]
    assert answers["userinfo, no token"].status_code == 401
    assert answers["admin, unknown user"].status_code == 404
    for name, answer in answers.items():
        assert answer.mimetype == "application/json", name
        assert answer.headers.get("Cache-Control") == "no-store", name


def test_redirects_carrying_a_code_are_not_stored(client, db):
    make_user(db)
    client_id, _ = make_client(db)
    login(client)
    answer = client.get(authorize_url(client_id))
    assert answer.status_code == 302 and "code=" in answer.location
    assert answer.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/oauth/jwks"])
def test_public_documents_stay_cacheable(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
