"""No query string breaks a page: whatever names and values it carries (``endpoint``, ``_method``,
``_external`` and other names that ``url_for`` reads, or anything else), every GET route answers
without a 500, and with a forged ``Host`` no link of the page leads to that host."""

import html
import re
from urllib.parse import urlencode, urlparse

import pytest
from flask import url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import IntegerConverter

from helpers import login, make_client, make_user

FORGED_HOST = "forged-host.invalid"
URL_FOR_NAMES = ["endpoint", "_method", "_external", "_scheme", "_anchor"]
NAMES_PAGES_READ = ["lang", "rid", "resume", "ui_locales", "prompt", "client_id", "redirect_uri", "username",
                    "login", "state", "login_hint", "q", "cursor", "since", "user", "action", "birthdate"]
LINK = re.compile(r'(?:href|src|action|formaction)\s*=\s*"([^"]*)"', re.IGNORECASE)


@pytest.fixture
def pages(build_app, db):
    """The app (throttling off: the test sends many requests), a signed-out and a signed-in
    browser, and the path of every GET route with its variables filled in."""
    app = build_app(IDP_ENV="development", RATELIMIT_ENABLED=False)
    make_user(db)
    make_client(db)
    signed_in = app.test_client()
    assert login(signed_in).status_code == 303
    return app, [app.test_client(), signed_in], get_paths(app)


def get_paths(app) -> list[str]:
    paths = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" in rule.methods:
                values = {name: 1 if isinstance(rule._converters.get(name), IntegerConverter) else "x"
                          for name in rule.arguments}
                paths.append(url_for(rule.endpoint, **values))
    return sorted(set(paths))


def assert_served_without_crash_nor_forged_links(browser, path: str, pairs: list[tuple[str, str]]) -> None:
    url = path + "?" + urlencode(pairs)
    response = browser.get(url, headers={"Host": FORGED_HOST})
    assert response.status_code != 500, (url, response.get_data(as_text=True)[:300])
    locations = [response.headers.get("Location") or ""]
    if response.mimetype == "text/html":
        locations += [html.unescape(link) for link in LINK.findall(response.get_data(as_text=True))]
    for location in locations:
        assert urlparse(location).hostname != FORGED_HOST, (url, location)


def test_every_get_route_is_found(pages):
    _app, _browsers, paths = pages
    assert {"/login", "/account", "/oauth/authorize", "/recovery/help", "/signup", "/dev/mail"} <= set(paths)
    assert len(paths) >= 20


@pytest.mark.parametrize("name", URL_FOR_NAMES)
def test_names_that_url_for_reads_break_no_page(pages, name):
    _app, browsers, paths = pages
    for browser in browsers:
        for path in paths:
            assert_served_without_crash_nor_forged_links(browser, path, [(name, "x"), ("_external", "1")])


def test_the_login_page_with_endpoint_or_method_in_its_query_is_the_login_page(client):
    for query in ("endpoint=x", "_method=x", "_external=1&_scheme=https", "_anchor=x&lang=en"):
        page = client.get(f"/login?{query}", headers={"Host": FORGED_HOST})
        assert page.status_code == 200
        assert 'name="password"' in page.get_data(as_text=True)
        assert FORGED_HOST not in page.get_data(as_text=True)


names = st.one_of(st.sampled_from(URL_FOR_NAMES + NAMES_PAGES_READ), st.text(min_size=1, max_size=12))
queries = st.lists(st.tuples(names, st.text(max_size=40)), max_size=5)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_query_string_breaks_a_page(pages, data):
    _app, browsers, paths = pages
    browser = data.draw(st.sampled_from(browsers), label="browser")
    path = data.draw(st.sampled_from(paths), label="path")
    pairs = data.draw(queries, label="query")
    if data.draw(st.booleans(), label="external"):
        pairs.append(("_external", "1"))
    assert_served_without_crash_nor_forged_links(browser, path, pairs)
