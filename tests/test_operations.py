"""Operational promises of the README that no other module owns: deployments sharing one Redis."""

from __future__ import annotations

from idp.jobs import Worker

from helpers import csrf_token, deliver, link_in, login, make_user, signed_in

LINK_GONE = "This link no longer works"


def test_two_deployments_on_one_redis_with_different_prefixes_do_not_see_each_other(build_app, db, redis, smtp):
    """The same Redis, database and secret: only IDP_REDIS_PREFIX tells the two apart."""
    ours = build_app(IDP_SMTP_URL=smtp.url)
    theirs = build_app(IDP_SMTP_URL=smtp.url, IDP_REDIS_PREFIX="autre-region:")
    assert ours.config["SECRET_KEY"] == theirs.config["SECRET_KEY"]
    make_user(db)

    # A session of one does not sign in at the other.
    browser = ours.test_client()
    assert login(browser).status_code == 303 and signed_in(browser)
    elsewhere = theirs.test_client()
    elsewhere.set_cookie("idp_session", browser.get_cookie("idp_session").value)
    assert not signed_in(elsewhere)
    assert signed_in(browser)  # and trying it there ended nothing here

    # A reset link of one is unknown to the other; their job queues are separate.
    form = browser.get("/recovery/password?lang=en")
    assert browser.post("/recovery/password", data={"csrf_token": csrf_token(form.data),
                                                    "login": "jean.dupont"}).status_code == 200
    assert ours.extensions["idp.jobs"].pending() == 1 and theirs.extensions["idp.jobs"].pending() == 0
    assert Worker(theirs).run_once() is False  # their worker finds none of our work
    deliver(ours)  # the lookup job, then the mail it queues
    link = link_in(smtp.text(smtp.wait_for(1)[0]), "/recovery/reset/")
    gone = theirs.test_client().get(link + "?lang=en")
    assert gone.status_code == 410 and LINK_GONE in gone.get_data(as_text=True)
    assert ours.test_client().get(link).status_code == 200  # still good where it was issued

    with theirs.test_request_context():
        their_job = theirs.extensions["idp.jobs"].enqueue("mail.deliver", {"to": "x@example.fr"})
    assert their_job and ours.extensions["idp.jobs"].pending() == 0

    # Every key either deployment wrote carries its prefix.
    keys = redis.keys("*")
    assert keys and all(key.startswith(("idp:", "autre-region:")) for key in keys), sorted(keys)
    assert any(key.startswith("autre-region:") for key in keys) and any(key.startswith("idp:") for key in keys)
