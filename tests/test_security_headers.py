"""What every answer tells the browser: no framing, no sniffing, no referrer, no caching of pages."""

import pytest


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
