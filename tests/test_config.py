"""Settings: declared once, documented in the README, checked at start with one clear line."""

import re
from pathlib import Path

import pytest

from idp import config
from idp.config import ConfigError

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_documented_in_the_readme():
    documented = set(re.findall(r"^\| `(IDP_[A-Z_]+)` \|", README.read_text(), re.MULTILINE))
    assert documented == {setting.name for setting in config.SETTINGS}


def test_defaults_follow_the_design(tmp_path):
    values = config.load({"IDP_INSTANCE_DIR": str(tmp_path)}, environ={})
    assert values["IDP_ISSUER"] == "http://localhost:5000"
    assert values["IDP_DATABASE_URL"] == f"sqlite:///{tmp_path}/idp.sqlite3"
    assert values["IDP_SIGNING_KEYS"] == f"{tmp_path}/jwks.private.json"
    assert values["IDP_REDIS_PREFIX"] == "idp:"
    assert values["IDP_RESET_TOKEN_TTL"] == 1800 and values["IDP_VERIFY_TOKEN_TTL"] == 86400
    assert values["IDP_PASSWORD_MIN_LENGTH"] == 15
    assert values["IDP_DEFAULT_LOCALE"] == "fr"
    assert values["IDP_ENV"] == "production"
    assert values["IDP_LOG_FORMAT"] == "text"


def test_environment_is_read_and_parsed(tmp_path):
    values = config.load(environ={"IDP_INSTANCE_DIR": str(tmp_path), "IDP_ISSUER": "https://sesame.example.fr/",
                                  "IDP_ACCESS_TOKEN_TTL": "300", "IDP_PLUGINS": "recovery, other",
                                  "IDP_DB_AUTO_UPGRADE": "no"})
    assert values["IDP_ISSUER"] == "https://sesame.example.fr"
    assert values["IDP_ACCESS_TOKEN_TTL"] == 300
    assert values["IDP_PLUGINS"] == ["recovery", "other"]
    assert values["IDP_DB_AUTO_UPGRADE"] is False


@pytest.mark.parametrize(("name", "raw"), [
    ("IDP_ISSUER", "ftp://sesame.example.fr"),
    ("IDP_ISSUER", "https://sesame.example.fr/?x=1"),
    ("IDP_ISSUER", "sesame"),
    ("IDP_REDIS_URL", "http://127.0.0.1:6379"),
    ("IDP_REDIS_URL", "redis+sentinel://127.0.0.1:26379"),  # no master name
    ("IDP_REDIS_URL", "redis+sentinel://127.0.0.1:26379/"),
    ("IDP_REDIS_URL", "redis+sentinel:///mymaster"),  # no sentinel
    ("IDP_REDIS_URL", "redis+sentinel://127.0.0.1/mymaster"),  # no port
    ("IDP_REDIS_URL", "redis+sentinel://127.0.0.1:26379,/mymaster"),
    ("IDP_REDIS_URL", "redis+sentinel://127.0.0.1:26379/mymaster/zero"),
    ("IDP_REDIS_URL", "redis+cluster://127.0.0.1:7000/0"),  # a cluster has no database number
    ("IDP_REDIS_URL", "redis+cluster://127.0.0.1,127.0.0.2:7000"),  # a node without its port
    ("IDP_REDIS_URL", "redis+cluster://"),
    ("IDP_REDIS_PREFIX", "{idp}:"),  # one hash tag for every key: the whole deployment in one slot
    ("IDP_SMTP_URL", "mailto:x@example.fr"),
    ("IDP_PASSWORD_MIN_LENGTH", "7"),
    ("IDP_PASSWORD_MIN_LENGTH", "fifteen"),
    ("IDP_RESET_TOKEN_TTL", "-1"),
    ("IDP_ENV", "staging"),
    ("IDP_DEFAULT_LOCALE", "de"),
    ("IDP_DB_AUTO_UPGRADE", "maybe"),
    ("IDP_LOGIN_RATE_LIMIT", "lots"),
    ("IDP_THEME_DIR", "/nonexistent/theme"),
    ("IDP_SESSION_IDLE_TIMEOUT", "999999"),
    ("IDP_LOG_FORMAT", "xml"),
])
def test_a_bad_setting_stops_the_start_naming_it(tmp_path, name, raw):
    with pytest.raises(ConfigError) as error:
        config.load(environ={"IDP_INSTANCE_DIR": str(tmp_path), name: raw})
    assert str(error.value).startswith(f"{name}: ")
    assert "\n" not in str(error.value)


def test_a_sentinel_url_is_accepted_in_the_form_flask_limiter_reads(tmp_path):
    url = "redis+sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2:26379,[::1]:26379/mymaster/2"
    values = config.load(environ={"IDP_INSTANCE_DIR": str(tmp_path), "IDP_REDIS_URL": url})
    assert values["IDP_REDIS_URL"] == url


def test_a_cluster_url_is_accepted_in_the_form_flask_limiter_reads(tmp_path):
    from idp.redis_store import limiter_storage, parse_cluster_url

    url = "redis+cluster://:s%40cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002"
    values = config.load(environ={"IDP_INSTANCE_DIR": str(tmp_path), "IDP_REDIS_URL": url})
    assert values["IDP_REDIS_URL"] == url
    parsed = parse_cluster_url(url)
    assert parsed.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002))
    assert (parsed.username, parsed.password) == (None, "s@cret")
    assert limiter_storage(url) == (url, {})


def test_an_unknown_idp_setting_in_the_test_mapping_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="IDP_NOPE: unknown setting"):
        config.load({"IDP_INSTANCE_DIR": str(tmp_path), "IDP_NOPE": "1"}, environ={})
