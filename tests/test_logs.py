"""Log lines on stderr: from the first line of a process, once each however many apps one process
builds, as text or as JSON objects (`IDP_LOG_FORMAT`), redacted in both shapes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import pytest

from helpers import get_code, idp_env, login, make_client, make_user, run_idp

CITIZEN_ADDRESS = "203.0.113.7"
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) (?P<logger>[\w.]+): (?P<message>.*)$")
TOKEN = "Zq3vL9xR2mN8pT4wK7yB1cF6hJ0sD5gA_-e"  # shaped like a one-time token: 36 URL-safe characters
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"


def audit_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " idp.audit: " in line or '"logger": "idp.audit"' in line]


def grant_in_a_fresh_process(app_config: dict, db, **settings) -> tuple[int, str]:
    """`idp users grant`, audited, in a process of its own: (the account's id, what reached stderr)."""
    agent = make_user(db, username="agent.accueil", email="agent@region.fr")
    granted = run_idp(idp_env({**app_config, **settings}), "users", "grant", "agent.accueil", "helpdesk")
    assert granted.returncode == 0, granted.stderr
    return agent.id, granted.stderr


def test_the_first_audit_line_of_a_fresh_process_reaches_stderr(app_config, db):
    agent_id, stderr = grant_in_a_fresh_process(app_config, db)

    [line] = audit_lines(stderr)
    parts = TEXT_LINE.match(line)
    assert parts and (parts["level"], parts["logger"]) == ("INFO", "idp.audit"), line
    event = json.loads(parts["message"])
    assert (event["action"], event["user_id"], event["details"]) == ("role.granted", agent_id, {"role": "helpdesk"})


def test_with_json_the_fresh_process_writes_its_audit_line_as_one_json_object(app_config, db):
    agent_id, stderr = grant_in_a_fresh_process(app_config, db, IDP_LOG_FORMAT="json")

    [line] = audit_lines(stderr)
    record = json.loads(line)
    assert set(record) == {"time", "level", "logger", "message", "event", "actor", "user_id", "client_id", "ip"}
    assert (record["level"], record["logger"], record["event"]) == ("INFO", "idp.audit", "role.granted")
    assert (record["user_id"], record["client_id"], record["ip"], record["actor"]) == (agent_id, None, None, None)
    assert json.loads(record["message"])["action"] == "role.granted"
    assert record["time"].endswith("Z")
    written = dt.datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - written).total_seconds()) < 60


def test_a_sign_in_in_json_carries_the_citizen_the_service_and_the_address(build_app, db, capsys):
    app = build_app(IDP_LOG_FORMAT="json")
    citizen = make_user(db)
    client_id, _secret = make_client(db, name="Transports scolaires")
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = CITIZEN_ADDRESS
    capsys.readouterr()

    get_code(browser, client_id)

    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    audited = [(r["event"], r["user_id"], r["client_id"], r["ip"]) for r in records if r["logger"] == "idp.audit"]
    assert audited == [("login.success", citizen.id, client_id, CITIZEN_ADDRESS),
                       ("authorization.granted", citizen.id, client_id, CITIZEN_ADDRESS)]
    assert all("event" not in r for r in records if r["logger"] != "idp.audit")


def test_building_several_apps_in_one_process_writes_each_line_once(build_app, db, capsys):
    make_user(db)
    build_app()
    app = build_app()
    capsys.readouterr()

    assert login(app.test_client(), "jean.dupont", "not the password").status_code == 401

    [line] = audit_lines(capsys.readouterr().err)
    assert json.loads(TEXT_LINE.match(line)["message"])["action"] == "login.failure"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_tokens_are_redacted_in_both_formats_even_from_a_child_logger(build_app, capsys, log_format):
    build_app(IDP_LOG_FORMAT=log_format)
    capsys.readouterr()

    logging.getLogger("idp.jobs").warning("job failed on /recovery/reset/%s with %s", TOKEN, JWT)

    [line] = capsys.readouterr().err.splitlines()
    message = json.loads(line)["message"] if log_format == "json" else TEXT_LINE.match(line)["message"]
    assert message == "job failed on /recovery/reset/[redacted] with [redacted]"
    assert TOKEN not in line and JWT not in line
