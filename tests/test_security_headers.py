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
