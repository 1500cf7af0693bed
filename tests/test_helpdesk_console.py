"""The help desk's console (/helpdesk): its guards in order (networks, sign-in, role, a recent login,
the second factor, idleness), the queue, a request beside its account, the search, and every action
confirmed with a reason and audited with the agent as the actor; never on the agent's own account,
and paused past the per-agent limit."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time

import pytest
from sqlalchemy import select

from idp import totp
from idp.models import AuditEvent, HelpRequest, SecondFactor, User, UserRole, utcnow

from helpers import PASSWORD, csrf_token, deliver, login, make_user, signed_in

AGENT = "agent.martin"
HELP_DESK = "assistance@region.example"


@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url, IDP_HELPDESK_EMAIL=HELP_DESK)


def make_agent(db, *, enrolled: bool = True, role: bool = True) -> tuple[User, str | None]:
    agent = make_user(db, username=AGENT, email="anne.martin@region.example", given_name="Anne",
                      family_name="Martin")
    if role:
        db.add(UserRole(user_id=agent.id, role="helpdesk"))
    secret = totp.new_secret() if enrolled else None
    if enrolled:
        db.add(SecondFactor(user_id=agent.id, totp_secret=secret, last_step=None))
    db.commit()
    return agent, secret


@pytest.fixture
def agent(db):
    return make_agent(db)


@pytest.fixture
def citizen(db):
    return make_user(db, username="elodie.martin", email="elodie@ancienne.example", given_name="Élodie",
                     family_name="Martin-Lefèvre", birthdate=dt.date(1984, 7, 14))


def file_request(db, user: User | None = None, days_ago: int = 0, **fields) -> HelpRequest:
    values = {"given_name": "Elodie", "family_name": "Martin Lefevre", "birthdate": dt.date(1984, 7, 14),
              "new_email": "elodie@nouvelle.example", "message": "Plus d'accès à ma messagerie.", "lang": "fr",
              "user_id": user.id if user else None, "created_at": utcnow() - dt.timedelta(days=days_ago), **fields}
    filed = HelpRequest(**values)
    db.add(filed)
    db.commit()
    return filed


def sign_in_agent(app, secret: str | None):
    """The agent's browser, in English, signed in with the password and (when enrolled) the app's code."""
    browser = app.test_client()
    browser.get("/login?lang=en")
    done = login(browser, AGENT)
    assert done.status_code == 303, done.data
    if secret is not None:
        assert done.location.endswith("/login/totp")
        page = browser.get("/login/totp")
        step = totp.current_step()
        typed = browser.post("/login/totp", data={"csrf_token": csrf_token(page.data),
                                                  "code": totp.code_at(secret, step)})
        assert typed.status_code == 303, typed.data
    return browser


@pytest.fixture
def desk(app, agent):
    return sign_in_agent(app, agent[1])


def text(response) -> str:
    return response.get_data(as_text=True)


def heading(response) -> str:
    return re.search(r"<h1>(.*?)</h1>", text(response), re.S).group(1).strip()


def fresh(db) -> None:
    """Forget what the test's session holds: the next reads see what the requests committed."""
    db.rollback()
    db.expire_all()


def events(db, action: str) -> list[AuditEvent]:
    fresh(db)
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def act(browser, path: str, reason: str | None = "Identité vérifiée par téléphone", csrf: bool = True):
    """Open an action's confirmation page and confirm it with ``reason``."""
    page = browser.get(path)
    assert page.status_code == 200, text(page)
    form = {"reason": reason} if reason is not None else {}
    if csrf:
        form["csrf_token"] = csrf_token(page.data)
    return browser.post(path, data=form)


# The guards, in order ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/helpdesk", "/helpdesk/requests/1", "/helpdesk/users?q=martin",
                                  "/helpdesk/users/1"])
def test_outside_the_admin_networks_the_console_does_not_exist(build_app, db, agent, path):
    app = build_app(IDP_ADMIN_NETWORKS="10.99.0.0/16")  # the test client is 127.0.0.1
    browser = sign_in_agent(app, agent[1])
    unknown = browser.get("/helpdesk/nothing-here?lang=en")
    answer = browser.get(path)
    assert answer.status_code == 404 and unknown.status_code == 404
    assert heading(answer) == "Page not found" == heading(unknown)
    refused = browser.post("/helpdesk/users/1/disable", data={"reason": "x"})
    assert refused.status_code == 404


def test_signed_out_browser_is_sent_to_the_login_and_comes_back(app, agent, citizen, db):
    filed = file_request(db, citizen)
    browser = app.test_client()
    answer = browser.get(f"/helpdesk/requests/{filed.id}")
    assert answer.status_code == 302
    assert answer.location == f"/login?next=/helpdesk/requests/{filed.id}" or \
        answer.location == f"/login?next=%2Fhelpdesk%2Frequests%2F{filed.id}"
    page = browser.get(answer.location)
    done = browser.post("/login", data={"csrf_token": csrf_token(page.data), "username": AGENT, "password": PASSWORD,
                                        "next": f"/helpdesk/requests/{filed.id}"})
    code_page = browser.get(done.location)
    typed = browser.post("/login/totp", data={"csrf_token": csrf_token(code_page.data),
                                              "code": totp.code_at(agent[1], totp.current_step())})
    assert typed.location == f"/helpdesk/requests/{filed.id}"


def test_an_account_without_the_role_is_told_the_console_is_for_the_help_desk(app, db):
    make_agent(db, role=False)
    agent = db.scalar(select(User).where(User.username == AGENT))
    secret = db.get(SecondFactor, agent.id).totp_secret
    browser = sign_in_agent(app, secret)
    answer = browser.get("/helpdesk")
    assert answer.status_code == 403
    assert heading(answer) == "The console is for the help desk"
    assert events(db, "helpdesk.account_opened") == []


def test_an_agent_without_totp_is_sent_to_enrolment_then_back_then_signs_in_with_the_code(app, db):
    make_agent(db, enrolled=False)
    browser = sign_in_agent(app, None)
    answer = browser.get("/helpdesk")
    assert answer.status_code == 303 and answer.location == "/account/totp"
    page = browser.get("/account/totp")
    secret = re.search(r'data-totp-secret="([A-Z2-7]+)"', text(page)).group(1)
    done = browser.post("/account/totp", data={"csrf_token": csrf_token(page.data),
                                               "code": totp.code_at(secret, totp.current_step())})
    assert heading(done) == "Two-step sign-in is on"
    assert 'href="/helpdesk">I have kept them: continue</a>' in text(done)
    # Signed in with the password only: the console asks for a sign-in with the code.
    again = browser.get("/helpdesk")
    assert again.status_code == 401 and heading(again) == "Sign in again"
    assert "with your app&#39;s code" in text(again) or "with your app's code" in text(again)
    assert not signed_in(browser)


def test_a_session_signed_in_without_the_code_must_sign_in_again(app, db, agent):
    db.delete(db.get(SecondFactor, agent[0].id))
    db.commit()
    browser = sign_in_agent(app, None)  # password only, amr ["pwd"]
    db.add(SecondFactor(user_id=agent[0].id, totp_secret=agent[1], last_step=None))
    db.commit()
    answer = browser.get("/helpdesk")
    assert answer.status_code == 401 and heading(answer) == "Sign in again"


def test_a_login_twelve_hours_old_must_sign_in_again(desk):
    assert desk.get("/helpdesk").status_code == 200
    with desk.session_transaction() as session:
        session["auth_time"] = int(time.time()) - 12 * 3600 - 1
    answer = desk.get("/helpdesk")
    assert answer.status_code == 401 and heading(answer) == "Sign in again"
    assert "from the last 12 hours" in text(answer)
    assert 'href="/login?next=/helpdesk"' in text(answer) or "next=%2Fhelpdesk" in text(answer)
    assert not signed_in(desk)


def test_fifteen_idle_minutes_end_the_console_session(desk):
    assert desk.get("/helpdesk").status_code == 200
    with desk.session_transaction() as session:
        session["helpdesk_seen"] = int(time.time()) - 14 * 60
    assert desk.get("/helpdesk").status_code == 200  # 14 minutes: still there, and the clock restarts
    with desk.session_transaction() as session:
        session["helpdesk_seen"] = int(time.time()) - 15 * 60 - 5
    answer = desk.get("/helpdesk")
    assert answer.status_code == 401 and heading(answer) == "Sign in again"
    assert "more than 15 minutes" in text(answer)
    assert not signed_in(desk)


@pytest.mark.parametrize("path", ["/helpdesk", "/helpdesk/users?q=martin"])
def test_console_pages_are_not_cached(desk, path):
    answer = desk.get(path)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"


# The queue and a request ---------------------------------------------------------------------------------------

def test_queue_lists_open_requests_oldest_first_with_their_age_and_flags_late_ones(desk, db, citizen):
    recent = file_request(db, citizen, days_ago=1)
    late = file_request(db, None, days_ago=9, given_name="Paul", family_name="Durand")
    closed = file_request(db, None, days_ago=20, state="resolved")
    page = text(desk.get("/helpdesk"))
    assert heading(desk.get("/helpdesk")) == "Open requests"
    rows = re.findall(r'<tr data-request="(\d+)">(.*?)</tr>', page, re.S)
    assert [int(number) for number, _ in rows] == [late.id, recent.id]
    assert str(closed.id) not in [number for number, _ in rows]
    assert "9 days" in rows[0][1] and "Late" in rows[0][1]
    assert "1 day" in rows[1][1] and "On time" in rows[1][1]


def test_a_request_that_came_verified_says_so_and_recoveries_without_the_desk_are_listed_for_review(
        desk, app, db, citizen):
    typed = file_request(db, citizen)
    verified = file_request(db, citizen, identity_verified_by="fc")
    assert 'data-verified-by="fc"' in text(desk.get(f"/helpdesk/requests/{verified.id}"))
    assert "Identity verified by fc" in text(desk.get(f"/helpdesk/requests/{verified.id}"))
    assert "data-verified-by" not in text(desk.get(f"/helpdesk/requests/{typed.id}"))
    page = text(desk.get("/helpdesk"))
    assert "Accounts recovered without the help desk, to review" in page and "<p>None.</p>" in page

    db.add_all([AuditEvent(action="account.recovered_federated", user_id=citizen.id,
                           details={"upstream": "fc", "waited": True}),
                AuditEvent(action="account.recovered_federated", user_id=citizen.id,
                           at=utcnow() - dt.timedelta(days=40), details={"upstream": "fc", "waited": False})])
    db.commit()
    rows = re.findall(r'<tr data-recovered="(\d+)">(.*?)</tr>', text(desk.get("/helpdesk")), re.S)
    assert [(int(user), "fc" in row, "Yes" in row) for user, row in rows] == [(citizen.id, True, True)]
    assert f'href="/helpdesk/users/{citizen.id}"' in rows[0][1]


def test_request_page_compares_field_by_field_beside_the_masked_account(desk, db, citizen):
    filed = file_request(db, citizen, given_name="Elodie", family_name="Martin", username="elodie.martin")
    other = file_request(db, None, given_name="ÉLODIE", family_name="Martin")
    login(desk.application.test_client(), "elodie.martin")  # a last sign-in to show
    page = desk.get(f"/helpdesk/requests/{filed.id}")
    html = text(page)
    assert heading(page) == f"Request no. {filed.id}"
    rows = dict(re.findall(r'<tr data-field="(\w+)">(.*?)</tr>', html, re.S))
    assert "Same" in rows["given_name"]  # Elodie and Élodie, folded as at sign-up
    assert "Different" in rows["family_name"] and "Martin-Lefèvre" in rows["family_name"]
    assert "Same" in rows["birthdate"] and "14/07/1984" in rows["birthdate"]
    assert "Same" in rows["username"]
    assert "<td data-masked-email>elo•••@a•••.example</td>" in html
    assert "elodie@ancienne.example" not in html
    assert "0 days ago" in html
    assert "Never" not in html  # the last sign-in is shown
    assert "login.success" in html  # the recent events
    assert f'href="/helpdesk/requests/{other.id}"' in html


def test_request_without_a_single_account_says_so_and_offers_the_search(desk, db, citizen):
    make_user(db, username="elodie.2", email="e2@example.fr", given_name="Élodie", family_name="Martin-Lefèvre",
              birthdate=dt.date(1984, 7, 14))
    filed = file_request(db, None)
    html = text(desk.get(f"/helpdesk/requests/{filed.id}"))
    assert "No single account matches" in html
    assert "action=resolve" not in html and f"/helpdesk/requests/{filed.id}/resolve" not in html
    refused = desk.get(f"/helpdesk/requests/{filed.id}/resolve")
    assert refused.status_code == 409 and heading(refused) == "Action refused"


# Actions ---------------------------------------------------------------------------------------------------------

def test_resolve_sets_the_new_address_tells_the_old_one_and_mails_a_reset_link(app, desk, db, smtp, agent, citizen):
    filed = file_request(db, citizen)
    missing = act(desk, f"/helpdesk/requests/{filed.id}/resolve", reason="  ")
    assert missing.status_code == 400
    assert "Give the reason for this action" in text(missing)
    done = act(desk, f"/helpdesk/requests/{filed.id}/resolve")
    assert done.status_code == 303 and done.location == f"/helpdesk/requests/{filed.id}"
    fresh(db)
    user = db.get(User, citizen.id)
    assert user.email == "elodie@nouvelle.example" and user.email_verified
    assert db.get(HelpRequest, filed.id).state == "resolved"
    assert db.get(HelpRequest, filed.id).closed_by == f"user:{agent[0].id}"
    for action in ("admin.email_changed", "admin.reset_sent", "admin.help_request_resolved"):
        (event,) = events(db, action)
        assert event.actor == f"user:{agent[0].id}" and event.user_id == citizen.id
        assert event.details["reason"] == "Identité vérifiée par téléphone"
    deliver(app)
    smtp.wait_for(3)
    to = {message["To"] for message in smtp.messages}
    assert {"elodie@ancienne.example", "elodie@nouvelle.example"} <= to
    new_mail = " ".join(smtp.text(m) for m in smtp.messages if m["To"] == "elodie@nouvelle.example")
    assert "/recovery/reset/" in new_mail
    assert "Done: Resolve the request." in text(desk.get(done.location))


def test_reject_mails_the_reason_to_the_citizen(app, desk, db, smtp, agent, citizen):
    filed = file_request(db, citizen)
    done = act(desk, f"/helpdesk/requests/{filed.id}/reject", reason="Les informations ne correspondent pas.")
    assert done.status_code == 303
    fresh(db)
    assert db.get(HelpRequest, filed.id).state == "rejected"
    assert db.get(User, citizen.id).email == "elodie@ancienne.example"
    (event,) = events(db, "admin.help_request_rejected")
    assert event.actor == f"user:{agent[0].id}" and event.details["reason"] == "Les informations ne correspondent pas."
    deliver(app)
    (rejection,) = [m for m in smtp.wait_for(1) if m["To"] == "elodie@nouvelle.example"]
    assert "Les informations ne correspondent pas." in smtp.text(rejection)
    again = desk.get(f"/helpdesk/requests/{filed.id}/reject")
    assert again.status_code == 409 and "already closed" in text(again)


def test_attach_the_request_to_an_account_found_by_search(desk, db, agent, citizen):
    other = make_user(db, username="e.lefevre", email="e.lefevre@example.fr", given_name="Élodie",
                      family_name="Lefèvre", birthdate=dt.date(1984, 7, 14))
    filed = file_request(db, citizen)
    found = desk.get(f"/helpdesk/users?q=elodie+lefevre&request={filed.id}")
    assert f'<tr data-user="{other.id}">' in text(found)
    link = f"/helpdesk/requests/{filed.id}/attach?user={other.id}"
    assert link.replace("&", "&amp;") in text(found) or link in text(found)
    done = act(desk, link)
    assert done.status_code == 303
    fresh(db)
    assert db.get(HelpRequest, filed.id).user_id == other.id
    (event,) = events(db, "helpdesk.request_attached")
    assert event.actor == f"user:{agent[0].id}" and event.details["previous_user_id"] == citizen.id
    assert event.details["reason"]


@pytest.mark.parametrize(("action", "audited", "status"), [
    ("disable", "admin.user_disabled", "disabled"),
    ("revoke", "admin.revoked", "active"),
])
def test_account_actions_are_done_and_audited(app, desk, db, agent, citizen, action, audited, status):
    citizen_browser = app.test_client()
    assert login(citizen_browser, "elodie.martin").status_code == 303
    done = act(desk, f"/helpdesk/users/{citizen.id}/{action}")
    assert done.status_code == 303
    fresh(db)
    assert db.get(User, citizen.id).status == status
    (event,) = events(db, audited)
    assert event.actor == f"user:{agent[0].id}" and event.details["reason"] == "Identité vérifiée par téléphone"
    assert not signed_in(citizen_browser)  # both end the citizen's sessions


def test_re_enable_and_clear_the_duplicate_mark(desk, db, agent, citizen):
    twin = make_user(db, username="elodie.bis", email="bis@example.fr", given_name="Élodie",
                     family_name="Martin-Lefèvre", birthdate=dt.date(1984, 7, 14), status="disabled")
    twin.possible_duplicate_of = citizen.id
    db.commit()
    assert "possible duplicate" in text(desk.get(f"/helpdesk/users/{twin.id}"))
    assert act(desk, f"/helpdesk/users/{twin.id}/enable").status_code == 303
    assert act(desk, f"/helpdesk/users/{twin.id}/clear-duplicate").status_code == 303
    fresh(db)
    assert db.get(User, twin.id).status == "active" and db.get(User, twin.id).possible_duplicate_of is None
    (enabled,) = events(db, "admin.user_enabled")
    (cleared,) = events(db, "admin.duplicate_mark_cleared")
    assert enabled.actor == cleared.actor == f"user:{agent[0].id}"
    assert cleared.details["same_person_as"] == citizen.id and cleared.details["reason"]
    page = text(desk.get(f"/helpdesk/users/{twin.id}"))  # the events, as an agent reads them
    assert re.search(r"<td>Account re-enabled by the help desk <code[^>]*>admin.user_enabled</code></td>"
                     rf"<td>{AGENT}</td>", page)


def test_the_help_desk_switches_off_a_lost_phones_second_factor_and_the_citizen_is_told(app, desk, db, smtp, agent,
                                                                                          citizen):
    db.add(SecondFactor(user_id=citizen.id, totp_secret=totp.new_secret(), last_step=None))
    db.commit()
    page = text(desk.get(f"/helpdesk/users/{citizen.id}"))
    assert "<th scope=\"row\">Two-step sign-in</th><td>On</td>" in page
    assert act(desk, f"/helpdesk/users/{citizen.id}/remove-second-factor").status_code == 303
    fresh(db)
    assert db.get(SecondFactor, citizen.id) is None
    (removed,) = events(db, "second_factor.removed")
    assert removed.actor == f"user:{agent[0].id}" and removed.details["reason"] == "Identité vérifiée par téléphone"
    deliver(app)
    told = [m["Subject"] for m in smtp.wait_for(1) if m["To"] == citizen.email]
    assert told == ["Two-step sign-in was switched off"]
    # The citizen's password alone signs in again.
    assert login(app.test_client(), "elodie.martin").location.endswith("/")
    assert "remove-second-factor" not in text(desk.get(f"/helpdesk/users/{citizen.id}"))


@pytest.mark.parametrize("action", ["disable", "revoke", "enable", "remove-second-factor"])
def test_an_agent_cannot_act_on_their_own_account(desk, db, agent, citizen, action):
    answer = desk.get(f"/helpdesk/users/{agent[0].id}/{action}")
    assert answer.status_code == 403 and heading(answer) == "Action refused"
    assert "your own account" in text(answer)
    token = csrf_token(desk.get(f"/helpdesk/users/{citizen.id}/disable").data)  # a real token, from another page
    forced = desk.post(f"/helpdesk/users/{agent[0].id}/{action}", data={"reason": "moi", "csrf_token": token})
    assert forced.status_code == 403
    fresh(db)
    assert db.get(User, agent[0].id).status == "active"
    assert events(db, "admin.user_disabled") == [] and events(db, "admin.revoked") == []


def test_an_agent_cannot_resolve_a_request_about_their_own_account(desk, db, agent):
    filed = file_request(db, agent[0], given_name="Anne", family_name="Martin", new_email="moi@ailleurs.example")
    answer = desk.get(f"/helpdesk/requests/{filed.id}/resolve")
    assert answer.status_code == 403 and "your own account" in text(answer)
    fresh(db)
    assert db.get(User, agent[0].id).email == "anne.martin@region.example"


def test_actions_need_the_csrf_token(desk, db, citizen):
    answer = act(desk, f"/helpdesk/users/{citizen.id}/disable", csrf=False)
    assert answer.status_code == 400 and heading(answer) == "This form has expired"
    fresh(db)
    assert db.get(User, citizen.id).status == "active"


def test_past_the_per_agent_limit_the_console_pauses_and_the_audit_log_says_so(build_app, smtp, db, agent,
                                                                                 citizen):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_HELPDESK_ACTION_RATE_LIMIT="2 per hour")
    desk = sign_in_agent(app, agent[1])
    assert act(desk, f"/helpdesk/users/{citizen.id}/revoke").status_code == 303
    assert act(desk, f"/helpdesk/users/{citizen.id}/disable").status_code == 303
    paused = act(desk, f"/helpdesk/users/{citizen.id}/enable")
    assert paused.status_code == 429 and heading(paused) == "The console is paused"
    fresh(db)
    assert db.get(User, citizen.id).status == "disabled"  # the third action was not done
    (event,) = events(db, "helpdesk.paused")
    assert event.actor == f"user:{agent[0].id}" and event.details["limit"] == "2 per hour"


# The search ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["elodie.martin", "ELODIE@ancienne.example", "elodie martin lefevre",
                                   "Martin-Lefèvre Élodie"])
def test_search_finds_by_identifier_address_or_names_and_masks_addresses(desk, citizen, typed):
    page = desk.get("/helpdesk/users", query_string={"q": typed})
    assert page.status_code == 200
    assert f'<tr data-user="{citizen.id}">' in text(page)
    assert "elo•••@a•••.example" in text(page) and "elodie@ancienne.example" not in text(page)


def test_search_filters_by_birth_date_and_refuses_an_impossible_one(desk, citizen):
    assert f'data-user="{citizen.id}"' in text(desk.get("/helpdesk/users?q=martin-lefevre&birthdate=14/07/1984"))
    assert f'data-user="{citizen.id}"' not in text(desk.get("/helpdesk/users?q=martin-lefevre&birthdate=15/07/1984"))
    wrong = desk.get("/helpdesk/users?q=martin-lefevre&birthdate=31/02/1984")
    assert wrong.status_code == 400 and "date of birth is DD/MM/YYYY" in text(wrong)


def test_opening_an_account_shows_it_in_full_and_is_audited(desk, db, agent, citizen):
    page = desk.get(f"/helpdesk/users/{citizen.id}")
    assert heading(page) == "Account elodie.martin"
    assert "<td data-email>elodie@ancienne.example" in text(page)
    (event,) = events(db, "helpdesk.account_opened")
    assert event.actor == f"user:{agent[0].id}" and event.user_id == citizen.id


def test_the_search_never_reaches_the_logs(caplog):
    logger = logging.getLogger("werkzeug")
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logger.info('127.0.0.1 - - "GET /helpdesk/users?q=Elodie+Martin&birthdate=14%%2F07%%2F1984&request=3 '
                    'HTTP/1.1" 200 -')
    assert "Elodie" not in caplog.text and "1984" not in caplog.text
    assert "q=[redacted]&birthdate=[redacted]&request=3" in caplog.text


def test_console_pages_are_french_first(desk):
    page = desk.get("/helpdesk?lang=fr")
    assert heading(page) == "Demandes ouvertes"


# Odd input -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "status", "title"), [
    ("/helpdesk/users?q=" + "a" * 300, 400, "Find an account"),
    ("/helpdesk/users?q=ab%00cd", 400, "Find an account"),
    ("/helpdesk/users?q=x&request=abc", 404, "Page not found"),
    ("/helpdesk/requests/99999999999", 404, "Page not found"),
    ("/helpdesk/requests/{request}/attach?user=abc", 404, "Page not found"),
    ("/helpdesk/users/{citizen}/explode", 404, "Page not found"),
])
def test_odd_input_answers_a_readable_page(desk, db, citizen, path, status, title):
    filed = file_request(db, citizen)
    answer = desk.get(path.format(request=filed.id, citizen=citizen.id))
    assert answer.status_code == status and heading(answer) == title


@pytest.mark.parametrize(("reason", "error"), [
    ("x" * 2001, "At most 2000 characters."),
    ("motif\x00caché", "This field contains characters that are not allowed."),
])
def test_an_odd_reason_is_refused_on_its_field_and_nothing_is_done(desk, db, citizen, reason, error):
    answer = act(desk, f"/helpdesk/users/{citizen.id}/disable", reason=reason)
    assert answer.status_code == 400 and error in text(answer)
    fresh(db)
    assert db.get(User, citizen.id).status == "active"


def test_a_request_without_an_account_is_resolved_on_the_single_account_with_the_same_person(desk, db, citizen):
    filed = file_request(db, None)  # filed before the account existed, say: no user_id
    page = text(desk.get(f"/helpdesk/requests/{filed.id}"))
    assert '<tr data-field="given_name">' in page and "elo•••@a•••.example" in page
    assert act(desk, f"/helpdesk/requests/{filed.id}/resolve").status_code == 303
    fresh(db)
    assert db.get(HelpRequest, filed.id).user_id == citizen.id
    assert db.get(User, citizen.id).email == "elodie@nouvelle.example"
