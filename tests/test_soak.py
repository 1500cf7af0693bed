"""Faults with nothing lost (issue 13, item 4), in one soak test.

Two instances (`gunicorn -w 2` each, with its own `idp mail worker`) share a Redis Sentinel group, a
PostgreSQL server of the test's own and an SMTP sink.  Threads sign citizens in (authorization code
with PKCE), refresh the families they got and ask for reset links, sending each request to the
instances in turn.  Meanwhile: the Redis master is killed and Sentinel fails over, a mail worker is
killed with SIGKILL and started again, PostgreSQL is restarted, and the SMTP server is stopped for a
fifth of the soak (a minute with IDP_SOAK_SECONDS=300).

At the end: every accepted reset request was mailed at least once, and of each citizen's links the
newest works exactly once (a new link supersedes the earlier ones); no answer was a 500 or a 5xx other
than 503; every error a client saw was documented (the readable 503 page, a JSON 503, an OAuth error);
no refresh family was left half-rotated; every family its relying party still holds refreshes.

IDP_SOAK_SECONDS (default 75) sets the load's length; IDP_SOAK_THREADS (4) its threads;
IDP_SOAK_REPORT names a file for the report as JSON (the table is printed either way).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

import pytest
import requests

from soak_support import (
    LEASE,  # a job in the hands of a worker that died waits this long for another
    Deployment,
    Faults,
    Load,
    PrivatePostgres,
    Recorder,
    check_links,
    drain,
    family_states,
    mails_missing,
    outcome_of,
    reset_mails,
    server_log_problems,
    summary_text,
)

SECONDS = float(os.environ.get("IDP_SOAK_SECONDS", "75"))
THREADS = int(os.environ.get("IDP_SOAK_THREADS", "4"))

pytestmark = pytest.mark.soak


@pytest.fixture
def deployment(tmp_path, signing_keys_file):
    if reason := PrivatePostgres.missing():
        pytest.fail(reason)
    began = time.monotonic()
    deployment = Deployment(tmp_path, signing_keys_file)
    try:
        deployment.start(signers=8, citizens=int(max(40, 0.6 * SECONDS)))
        deployment.began = began  # for the whole test's time in the report
        yield deployment
    finally:
        deployment.close()


def test_faults_under_load_on_two_instances_lose_nothing(deployment, capsys, record_property):
    recorder = Recorder()
    recorder.alive = lambda n: deployment.webs[n].poll() is None
    load = Load(deployment, recorder, THREADS, think=0.02)
    faults = Faults(deployment, recorder, SECONDS)
    run_with_faults(load, faults, recorder)
    seen = {"load ended": recorder.now()}

    seen["families"] = family_states(deployment.postgres.url, load.held())  # before any other refresh
    seen["final refreshes"] = final_refreshes(load, deployment, recorder)  # every fault is over
    seen["metrics"] = drain(deployment, deployment.citizens, drain_deadline(recorder, faults, seen["load ended"]))
    seen["drained"] = recorder.now()
    seen["mails"] = reset_mails(deployment.smtp)
    seen["missing"] = mails_missing(deployment.citizens, seen["mails"])
    seen["links"] = check_all_links(deployment, seen["mails"], recorder)

    report = build_report(deployment, recorder, load, faults, seen)
    summary = summary_text(report)
    with capsys.disabled():
        print("\n" + summary)
    record_property("soak", json.dumps(report))
    if path := os.environ.get("IDP_SOAK_REPORT"):
        with open(path, "w") as output:
            json.dump(report, output, indent=2, ensure_ascii=False)
    assert not report["problems"], summary


def run_with_faults(load: Load, faults: Faults, recorder: Recorder) -> None:
    """The load for SECONDS, the faults one after another meanwhile."""
    load.start()
    faults.start()
    try:
        faults.join(SECONDS + 120)
        time.sleep(max(0.0, SECONDS - recorder.now()))
    finally:
        load.stop()


def drain_deadline(recorder: Recorder, faults: Faults, load_ended: float) -> float:
    """When to stop waiting for the queue: a job in the hands of the killed worker, or of one that lost
    the Redis master mid-job, waits out its lease; a mail that failed during the SMTP outage waits out
    its back-off (doubling: up to about the outage's length after it ended)."""
    at = {fault.name.split()[0]: fault for fault in faults.done}
    return recorder.started + max(load_ended + 20, at["mail"].at + LEASE + 30, at["Redis"].at + LEASE + 30,
                                  at["SMTP"].healed + 1.3 * faults.smtp_outage + 20)


def final_refreshes(load: Load, deployment: Deployment, recorder: Recorder) -> Counter:
    """Every family its relying party still holds must refresh, now that every fault is over."""

    def refresh(numbered) -> str:
        n, family = numbered
        url = deployment.urls[n % 2]
        answer = recorder.send("token: refresh", n % 2, lambda: requests.post(
            f"{url}/oauth/token", auth=deployment.client, timeout=30,
            data={"grant_type": "refresh_token", "refresh_token": family.token}), phase="check")
        outcome = "no answer" if answer is None else outcome_of(answer, "token: refresh")[0]
        if outcome != "ok":
            family.history.append(f"final refresh: {outcome}")
        return outcome

    with ThreadPoolExecutor(4) as pool:
        return Counter(pool.map(refresh, enumerate(family for family in load.held() if family.lost is None)))


def check_all_links(deployment: Deployment, mails, recorder: Recorder) -> tuple[Counter, list[str]]:
    """check_links for every citizen who got a reset mail, four at a time."""
    by_address = defaultdict(list)
    for mail in mails:
        by_address[mail.to].append(mail)
    citizens = [citizen for citizen in deployment.citizens if citizen.email in by_address]
    totals: Counter = Counter()
    problems: list[str] = []

    def check(citizen) -> tuple[dict, list[str]]:
        try:
            return check_links(citizen, by_address[citizen.email], deployment.urls, recorder)
        except Exception as error:  # an answer the check could not read: one problem, the others go on
            return {}, [f"{citizen.username}: checking the links failed: {type(error).__name__}: {error}"[:300]]

    with ThreadPoolExecutor(4) as pool:
        for seen, found in pool.map(check, citizens):
            totals.update(seen)
            problems += found
    totals["citizens with mail"] = len(citizens)
    return totals, problems


def errors_by_fault(errors, faults) -> dict[str, Counter]:
    """Each error under the fault it happened during: the latest one to start before its answer came, if
    it was in flight before that fault healed (or within 5 s after)."""
    found: dict[str, Counter] = defaultdict(Counter)
    for call in errors:
        during = [fault.name for fault in faults if call.ended >= fault.at and call.at <= fault.healed + 5]
        found[during[-1] if during else "outside any fault"][f"{call.kind}: {call.outcome}"] += 1
    return found


def build_report(deployment: Deployment, recorder: Recorder, load: Load, faults: Faults, seen: dict) -> dict:
    calls = [call for call in recorder.calls if call.phase == "load"]
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for call in calls:
        by_kind[call.kind]["total"] += 1
        by_kind[call.kind][call.outcome] += 1
    errors = recorder.errors("load")
    states, family_problems = seen["families"]
    checked, link_problems = seen["links"]
    asked = [outcome for citizen in deployment.citizens for _at, outcome in citizen.asked]
    families = load.held()
    return {
        "seconds": SECONDS, "threads": THREADS, "elapsed": time.monotonic() - deployment.began,
        "timing": {**{f"start-up: {step}": round(value, 1) for step, value in deployment.timings.items()},
                   "load ended (since the load started)": round(seen["load ended"], 1),
                   "queue drained, every mail in": round(seen["drained"], 1),
                   "checks done": round(recorder.now(), 1)},
        "requests": {"total": len(calls), "by_kind": {kind: dict(counts) for kind, counts in sorted(by_kind.items())}},
        "faults": [asdict(fault) for fault in faults.done],
        "mails": {
            "reset requests sent": len(asked),
            "accepted (neutral page)": asked.count("accepted"),
            "not accepted (error answer)": len(asked) - asked.count("accepted") - asked.count("no answer"),
            "no answer": asked.count("no answer"),
            "citizens asked": sum(1 for citizen in deployment.citizens if citizen.asked),
            "reset mails delivered": len(seen["mails"]),
            "distinct reset links": len({mail.link for mail in seen["mails"]}),
            "citizens missing a mail": len(seen["missing"]),
            **{f"links: {name}": n for name, n in sorted(checked.items())},
            **{f"metrics: {name}": value for name, value in sorted(seen["metrics"].items())},
        },
        "refresh_families": {
            "families created": len(families),
            "rotations": sum(family.rotations for family in families),
            "lost during the load": sum(1 for family in families if family.lost),
            **{f"SQL: {state}": n for state, n in sorted(states.items())},
            **{f"final refresh: {outcome}": n for outcome, n in sorted(seen["final refreshes"].items())},
        },
        "errors_by_kind": dict(Counter(call.outcome for call in errors).most_common()),
        "errors_by_fault": {name: dict(counts) for name, counts in errors_by_fault(errors, faults.done).items()},
        "sign_ins": dict(load.sign_ins),
        "lost_families": [{"user": family.user, "lost": family.lost, "history": family.history}
                          for family in families if family.lost],
        "problems": [*answer_problems(errors, faults), *family_problems, *link_problems,
                     *other_problems(deployment, load, seen)],
    }


def answer_problems(errors: list, faults: Faults) -> list[str]:
    """Errors no client may see: undocumented ones (a 500, another 5xx, a 503 without the readable page,
    no answer at all), and any error once every fault had healed."""
    last_healed = max(fault.healed for fault in faults.done)
    late = [call for call in errors if call.at > last_healed + 10]
    return [*(f"{n} × {kind} answered {outcome} (not a documented error)"
              for (kind, outcome), n in Counter((call.kind, call.outcome) for call in errors
                                                if not call.documented).items()),
            *(f"{n} × {kind} answered {outcome} more than 10 s after the last fault healed"
              for (kind, outcome), n in Counter((call.kind, call.outcome) for call in late).items())]


def other_problems(deployment: Deployment, load: Load, seen: dict) -> list[str]:
    return [
        *(f"{citizen}: {accepted} request(s) accepted, {links} reset link(s) mailed"
          for citizen, (accepted, links) in seen["missing"].items()),
        *(f"final refresh of a held family: {n} × {outcome}"
          for outcome, n in seen["final refreshes"].items() if outcome != "ok"),
        *(f'{n} mail(s) dropped for good (sesame_mails_total{{outcome="dead"}})'
          for n in [seen["metrics"]["mails_dead"]] if n),
        *(f"{n} sign-in(s) met an answer that is neither an error nor the journey's next step: {what}"
          for what, n in load.sign_ins.items() if what.startswith("unexpected")),
        *(f"a client of the load failed: {failure}" for failure in load.failures),
        *server_log_problems(deployment.logs),
    ]
