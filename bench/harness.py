"""``python -m bench``: every benchmark of Sésame on one machine, one command, one table.

It starts Sésame in its production form (``idp serve --production``, Granian) on a private
redis-server and a fresh database, the peer (``bench/peer.py``: node + oidc-provider) when node
is there, runs each scenario (warm-up, then a fixed time, the two systems alternating for
``--rounds`` rounds), and prints one Markdown table, also written with the raw numbers as JSON
to ``bench/results/<date>-<commit>.md`` and ``.json``.  Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import requests

from bench import accounts_at_scale, recovery_timing
from bench.common import free_port
from bench.load import Sample, combine, drive, percentile, wrk, wrk_binary
from bench.services import PASSWORD, REDIRECT_URI, Stack, database_server, describe_database, vm_rss

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

PEER_SCENARIOS = ("discovery", "client_credentials", "client_credentials_es256", "refresh", "introspection",
                  "userinfo", "peer_opaque")
CEILINGS = ("argon2", "healthz", "redis")
OWN = ("login_page", "signin", "recovery", "reset", "signup", "memory")
SCENARIOS = PEER_SCENARIOS + CEILINGS + OWN
HELP_SCENARIOS = """scenarios (default: all):
  peer comparison  discovery, client_credentials, client_credentials_es256, refresh, introspection,
                   userinfo, peer_opaque (the peer with opaque access tokens, for reference)
  ceilings         argon2 (verification alone, one core), healthz (GET /healthz, wrk),
                   redis (GETDEL with redis-benchmark on the private redis-server)
  Sésame only      login_page (GET /login, wrk), signin (the whole code flow), recovery
                   (POST /recovery/password, known and unknown), reset (issue and consume a
                   reset link), signup (POST /signup among --accounts accounts), memory"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.rows: list[dict] = []  # every row of the table, with its raw samples
        self.ceiling: dict[str, float] = {}
        self.stack: Stack | None = None
        self.peers: dict[str, object] = {}
        self.peer_reason: str | None = None
        self.wrk_reason: str | None = None
        self.memory: list[dict] = []

    # --- running -----------------------------------------------------------------------------------------------

    def wanted(self, name: str) -> bool:
        return name in self.args.scenarios

    def alternate(self, name: str, runs: dict[str, Callable[[], Sample] | None]) -> dict[str, list[Sample]]:
        """Each system's run, ``--rounds`` times, alternating; a run warms up first (its own call)."""
        samples: dict[str, list[Sample]] = {system: [] for system in runs}
        for round_ in range(1, self.args.rounds + 1):
            for system, run in runs.items():
                if run is None:
                    continue
                log(f"{name}: {system} round {round_}/{self.args.rounds} …")
                samples[system].append(run())
        return samples

    def wrk_run(self, url: str, script: str, script_args: list[str], headers: dict[str, str]) -> Callable[[], Sample]:
        def run() -> Sample:
            if self.args.warmup > 0:
                wrk(url, script=script, script_args=script_args, headers=headers, seconds=self.args.warmup,
                    connections=self.args.connections)
            return wrk(url, script=script, script_args=script_args, headers=headers, seconds=self.args.duration,
                       connections=self.args.connections)
        return run

    def driver_run(self, task, concurrency: int | None = None) -> Callable[[], dict[str, Sample]]:
        def run() -> dict[str, Sample]:
            return drive(task, concurrency=concurrency or self.args.concurrency, warmup=self.args.warmup,
                         seconds=self.args.duration)
        return run

    def add(self, group: str, name: str, what: str, ours: list[Sample] | None, peer: list[Sample] | None = None,
            ceiling: str | None = None, note: str = "") -> None:
        self.rows.append({"group": group, "scenario": name, "what": what, "ceiling": ceiling, "note": note,
                          "sesame": [s.as_dict() for s in ours] if ours else None,
                          "peer": [s.as_dict() for s in peer] if peer else None,
                          "sesame_total": combine(ours).as_dict() if ours else None,
                          "peer_total": combine(peer).as_dict() if peer else None})

    # --- the peer ----------------------------------------------------------------------------------------------

    def peer(self, variant: str):
        """The peer for ``variant`` (jwt-RS256, jwt-ES256, opaque), started on first use; one at a time."""
        if self.peer_reason:
            return None
        if variant in self.peers:
            return self.peers[variant]
        for other in list(self.peers):
            self.peers.pop(other).stop()
        from bench.peer import PeerError, start

        at_format, _, at_alg = variant.partition("-")
        log(f"peer: starting oidc-provider ({variant}) …")
        try:
            self.peers[variant] = start(self.stack.folder / f"peer-{variant}", free_port(), at_alg=at_alg or "RS256",
                                        at_format=at_format, seed=self.args.peer_seed, refresh_id_token=False)
        except PeerError as error:
            self.peer_reason = f"the peer did not start: {str(error).splitlines()[0]}"
            log(f"peer: {self.peer_reason}")
            return None
        return self.peers[variant]

    def pool_file(self, name: str, tokens: list[str]) -> str:
        path = self.stack.folder / f"{name}.tokens"
        path.write_text("\n".join(tokens) + "\n")
        return str(path)

    # --- peer comparison ---------------------------------------------------------------------------------------

    def run_peer_comparison(self) -> None:
        s, group = self.stack, "Peer comparison (both: 1 process)"
        ours_cc = basic(s.cc_client.client_id, s.cc_client.secret) | FORM
        ours_code = basic(s.code_client.client_id, s.code_client.secret) | FORM

        def peer_auth(p):
            return basic(p.client_id, p.client_secret) | FORM

        if self.wanted("discovery"):
            p = self.peer("jwt-RS256")
            got = self.alternate("discovery", {
                "Sésame": self.wrk_run(f"{s.base}/.well-known/openid-configuration", "static.lua", ["GET"], {}),
                "peer": self.wrk_run(p.discovery, "static.lua", ["GET"], {}) if p else None})
            self.add(group, "discovery", "GET /.well-known/openid-configuration", got["Sésame"], got["peer"],
                     "healthz")
        if self.wanted("client_credentials"):
            p = self.peer("jwt-RS256")
            got = self.alternate("client_credentials", {
                "Sésame": self.wrk_run(f"{s.base}/oauth/token", "static.lua",
                                       ["POST", "grant_type=client_credentials"], ours_cc),
                "peer": self.wrk_run(p.token_endpoint, "static.lua", ["POST", "grant_type=client_credentials"],
                                     peer_auth(p)) if p else None})
            self.add(group, "client_credentials", "POST /token, access token a JWT signed RS256", got["Sésame"],
                     got["peer"], "healthz")
        if self.wanted("client_credentials_es256"):
            p = self.peer("jwt-ES256")
            es = s.cc_es256_client
            got = self.alternate("client_credentials_es256", {
                "Sésame": self.wrk_run(f"{s.base}/oauth/token", "static.lua",
                                       ["POST", "grant_type=client_credentials"],
                                       basic(es.client_id, es.secret) | FORM),
                "peer": self.wrk_run(p.token_endpoint, "static.lua", ["POST", "grant_type=client_credentials"],
                                     peer_auth(p)) if p else None})
            self.add(group, "client_credentials_es256", "POST /token, access token a JWT signed ES256 "
                     "(`idp clients add --access-token-alg ES256`)", got["Sésame"], got["peer"], "healthz")
        if self.wanted("refresh"):
            p = self.peer("jwt-RS256")
            ours_pool = self.pool_file("sesame-refresh", s.refresh_tokens)
            peer_pool = self.pool_file("peer-refresh", p.refresh_tokens) if p else None
            got = self.alternate("refresh", {
                "Sésame": self.wrk_run(f"{s.base}/oauth/token", "tokens.lua", ["refresh", ours_pool, ours_pool],
                                       ours_code),
                "peer": self.wrk_run(p.token_endpoint, "tokens.lua", ["refresh", peer_pool, peer_pool],
                                     peer_auth(p)) if p else None})
            self.add(group, "refresh", "POST /token grant_type=refresh_token, rotation, new access JWT RS256, "
                     "no ID token", got["Sésame"], got["peer"], "healthz")
        if self.wanted("introspection"):
            p = self.peer("jwt-RS256")
            ours_pool = self.pool_file("sesame-introspect", s.access_tokens(s.cc_client, 100))
            peer_pool = self.pool_file("peer-introspect", p.access_tokens) if p else None
            got = self.alternate("introspection", {
                "Sésame": self.wrk_run(f"{s.base}/oauth/introspect", "tokens.lua", ["introspect", ours_pool],
                                       ours_cc),
                "peer": self.wrk_run(p.introspection_endpoint, "tokens.lua", ["introspect", peer_pool],
                                     peer_auth(p)) if p else None})
            self.add(group, "introspection", "POST /introspect of the client's own access token (ours: a JWT "
                     "verified; peer: an opaque token looked up in memory)", got["Sésame"], got["peer"], "healthz")
        if self.wanted("userinfo"):
            p = self.peer("jwt-RS256")
            ours_pool = self.pool_file("sesame-userinfo", s.user_access_tokens())
            peer_pool = self.pool_file("peer-userinfo", p.userinfo_tokens) if p else None
            got = self.alternate("userinfo", {
                "Sésame": self.wrk_run(f"{s.base}/oauth/userinfo", "tokens.lua", ["userinfo", ours_pool], {}),
                "peer": self.wrk_run(p.userinfo_endpoint, "tokens.lua", ["userinfo", peer_pool], {}) if p else None})
            self.add(group, "userinfo", "GET /userinfo with a user's access token (ours: JWT; peer: opaque)",
                     got["Sésame"], got["peer"], "healthz")
        if self.wanted("peer_opaque"):
            p = self.peer("opaque")
            if p:
                got = self.alternate("client_credentials_opaque", {
                    "peer": self.wrk_run(p.token_endpoint, "static.lua", ["POST", "grant_type=client_credentials"],
                                         peer_auth(p))})
                self.add(group, "client_credentials_opaque", "peer only: POST /token, opaque access token "
                         "(nothing signed, kept in memory)", None, got["peer"])
                pool = self.pool_file("peer-refresh-opaque", p.refresh_tokens)
                got = self.alternate("refresh_opaque", {
                    "peer": self.wrk_run(p.token_endpoint, "tokens.lua", ["refresh", pool, pool], peer_auth(p))})
                self.add(group, "refresh_opaque", "peer only: refresh with rotation, opaque access token", None,
                         got["peer"])
        for variant in list(self.peers):
            self.peers.pop(variant).stop()

    # --- ceilings ----------------------------------------------------------------------------------------------

    def run_ceilings(self) -> None:
        s, group = self.stack, "Ceilings (what the scenarios stand on)"
        if self.wanted("argon2"):
            got = self.alternate("argon2", {"Sésame": self.argon2})
            self.add(group, "argon2", "argon2id verification alone, idp.passwords, one thread in a subprocess "
                     "(per core)", got["Sésame"])
            self.ceiling["argon2"] = combine(got["Sésame"]).rate
        if self.wanted("healthz") and not self.wrk_reason:
            got = self.alternate("healthz", {"Sésame": self.wrk_run(f"{s.base}/healthz", "static.lua", ["GET"], {})})
            self.add(group, "healthz", "GET /healthz under the production server (the framework's floor)",
                     got["Sésame"])
            self.ceiling["healthz"] = combine(got["Sésame"]).rate
        if self.wanted("redis"):
            if shutil.which("redis-benchmark"):
                got = self.alternate("redis", {"Sésame": self.redis_benchmark})
                self.ceiling["redis"] = combine(got["Sésame"]).rate
                self.add(group, "redis", f"Redis GETDEL, redis-benchmark -c {self.args.connections} on the private "
                         "redis-server", got["Sésame"])
            else:
                log("redis: no redis-benchmark (apt-get install redis-tools); skipped")

    def argon2(self) -> Sample:
        code = """
import json, statistics, sys, time
from idp.passwords import hash_password, verify_password
password = sys.argv[3]
stored = hash_password(password)
end = time.perf_counter() + float(sys.argv[1])
while time.perf_counter() < end:
    verify_password(stored, password)
times, start = [], time.perf_counter()
end = start + float(sys.argv[2])
while time.perf_counter() < end:
    t = time.perf_counter()
    assert verify_password(stored, password)
    times.append(time.perf_counter() - t)
times.sort()
print(json.dumps({"n": len(times), "seconds": time.perf_counter() - start, "p50": statistics.median(times),
                  "p99": times[min(len(times) - 1, int(len(times) * 0.99))]}))
"""
        done = subprocess.run([sys.executable, "-c", code, str(self.args.warmup), str(self.args.duration), PASSWORD],
                              capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              timeout=self.args.warmup + self.args.duration + 60, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        return Sample(result["n"], result["seconds"], result["p50"] * 1000, result["p99"] * 1000, 0)

    def redis_benchmark(self) -> Sample:
        count = 50_000 if self.args.quick else 200_000
        done = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(self.stack.redis_port),
                               "-c", str(self.args.connections), "-n", str(count), "-r", "100000", "-q",
                               "GETDEL", "bench:k:__rand_int__"], capture_output=True, text=True, timeout=300)
        text = done.stdout.replace("\r", "\n")
        rate = re.findall(r"([\d.]+) requests per second", text)
        p50 = re.findall(r"p50=([\d.]+) msec", text)
        if done.returncode != 0 or not rate:
            raise RuntimeError(f"redis-benchmark failed: {done.stderr.strip() or text.strip()[-300:]}")
        rps = float(rate[-1])
        return Sample(count, count / rps, float(p50[-1]) if p50 else None, None, 0,
                      {"output": text.strip().splitlines()[-1]})

    # --- Sésame only -------------------------------------------------------------------------------------------

    def run_own(self) -> None:
        s, group = self.stack, "Sésame only"
        if self.wanted("login_page") and not self.wrk_reason:
            got = self.alternate("login_page", {"Sésame": self.wrk_run(f"{s.base}/login", "static.lua", ["GET"], {})})
            self.add(group, "login_page", "GET /login, no cookie (a new session and CSRF token each)", got["Sésame"],
                     ceiling="healthz")
        if self.wanted("signin"):
            got = self.alternate("signin", {"Sésame": self.driver_run(self.signin_task)})
            self.add(group, "signin", f"whole sign-in, fresh browser: authorize → login page → password "
                     f"(argon2id) → code → token → userinfo; {self.args.concurrency} at once; one flow = one",
                     [g["signin"] for g in got["Sésame"]], ceiling="argon2")
        if self.wanted("recovery"):
            plan = recovery_timing.logins(2000, s.citizens, s.rng)
            got = self.alternate("recovery", {"Sésame": self.driver_run(
                lambda i: self.recovery_task(plan[i % len(plan)]))})
            for kind in ("known", "unknown"):
                self.add(group, f"recovery_{kind}", f"POST /recovery/password, {kind} account (fresh browser: "
                         "GET for CSRF, timed POST; rate counts the pairs)",
                         [g.get(kind) for g in got["Sésame"] if g.get(kind)], ceiling="healthz")
        if self.wanted("reset"):
            got = self.alternate("reset_issue", {"Sésame": self.reset_issue})
            self.add(group, "reset_issue", "reset link issued: OneTimeTokens.issue in the bench process (the Lua "
                     "script the mail job runs), one thread", got["Sésame"], ceiling="redis")
            got = self.alternate("reset_consume", {"Sésame": self.driver_run(self.reset_task)})
            self.add(group, "reset_consume", "reset link consumed: GET /recovery/reset/<t> then POST the new "
                     "password (argon2id hash), fresh browser", [g["consume"] for g in got["Sésame"]],
                     ceiling="argon2")
        if self.wanted("signup"):
            if not s.people:
                log("signup: --accounts 0, skipped")
            else:
                got = self.alternate("signup", {"Sésame": self.signup_round})
                every = [Sample(sum(g[k].requests for k in g), self.args.duration, None, None,
                                sum(g[k].errors for k in g)) for g in got["Sésame"]]
                self.add(group, "signup", f"POST /signup among {s.accounts + s.citizens:,} accounts, the three "
                         "kinds below shuffled together; fresh browser, GET for CSRF, timed POST", every,
                         ceiling="argon2")
                for kind in accounts_at_scale.SIGNUP_KINDS:
                    self.add(group, f"signup: {kind}", f"the {kind} sign-ups of that run (their rate is their share)",
                             [g[kind] for g in got["Sésame"] if kind in g])

    def flow(self, n: int) -> tuple[requests.Session, bool]:
        """One citizen's sign-in through a fresh browser and the relying party's calls."""
        s, client = self.stack, self.stack.code_client
        browser = requests.Session()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT_URI,
                  "scope": "openid email", "state": "s", "nonce": "n", "code_challenge": challenge,
                  "code_challenge_method": "S256"}
        start = browser.get(f"{s.base}/oauth/authorize?{urlencode(params)}", allow_redirects=False, timeout=TIMEOUT)
        page = browser.get(s.base + start.headers["Location"], timeout=TIMEOUT)
        token = CSRF.search(page.text)[1]
        rid = re.search(r'name="rid" type="hidden" value="([^"]*)"', page.text)[1]
        posted = browser.post(f"{s.base}/login", allow_redirects=False, timeout=TIMEOUT, data={
            "csrf_token": token, "rid": rid, "username": recovery_timing.username(n), "password": PASSWORD})
        back = browser.get(s.base + posted.headers["Location"], allow_redirects=False, timeout=TIMEOUT)
        code = parse_qs(urlparse(back.headers["Location"]).query)["code"][0]
        with requests.Session() as rp:
            tokens = rp.post(f"{s.base}/oauth/token", auth=(client.client_id, client.secret), timeout=TIMEOUT, data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier})
            info = rp.get(f"{s.base}/oauth/userinfo", timeout=TIMEOUT,
                          headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
        return browser, info.status_code == 200 and info.json().get("email", "").startswith("citoyen.")

    def signin_task(self, i: int) -> tuple[float, bool, str]:
        started = time.perf_counter()
        _, ok = self.flow(i % max(1, self.stack.citizens // 2))
        return time.perf_counter() - started, ok, "signin"

    def recovery_task(self, planned: tuple[str, str]) -> tuple[float, bool, str]:
        kind, seconds, status = recovery_timing.ask(self.stack.base, *planned)
        return seconds, status == 200, kind

    def reset_tokens(self):
        from idp.one_time_tokens import OneTimeTokens
        from idp.redis_store import Keys

        return OneTimeTokens(self.stack.redis, Keys(self.stack.prefix))

    def reset_issue(self) -> Sample:
        from plugins.recovery.requests import RESET

        store, users = self.reset_tokens(), self.stack.reset_users
        end = time.perf_counter() + self.args.warmup
        i = 0
        while time.perf_counter() < end:
            store.issue(users[i % len(users)], RESET, 1800)
            i += 1
        times, start = [], time.perf_counter()
        end = start + self.args.duration
        while time.perf_counter() < end:
            t = time.perf_counter()
            store.issue(users[i % len(users)], RESET, 1800)
            times.append(time.perf_counter() - t)
            i += 1
        times.sort()
        return Sample(len(times), time.perf_counter() - start, statistics.median(times) * 1000,
                      percentile(times, 0.99) * 1000, 0)

    def reset_task(self, i: int) -> tuple[float, bool, str]:
        from plugins.recovery.requests import RESET

        s = self.stack
        token = self.reset_tokens().issue(s.reset_users[i % len(s.reset_users)], RESET, 1800)  # not timed
        browser = requests.Session()
        started = time.perf_counter()
        page = browser.get(f"{s.base}/recovery/reset/{token}", timeout=TIMEOUT)
        if page.status_code != 200:
            return time.perf_counter() - started, False, "consume"
        new = f"Nouvelle phrase du banc {secrets.token_hex(6)}"
        done = browser.post(f"{s.base}/recovery/reset/{token}", allow_redirects=False, timeout=TIMEOUT, data={
            "csrf_token": CSRF.search(page.text)[1], "new_password": new, "new_password_confirm": new})
        return time.perf_counter() - started, done.status_code == 303, "consume"

    def signup_round(self) -> dict[str, Sample]:
        s = self.stack
        per_kind = math.ceil(40 * (self.args.warmup + self.args.duration) * self.args.concurrency)
        self.signup_next = getattr(self, "signup_next", s.accounts + 1_000_000)
        plan = accounts_at_scale.signup_plan(s.people, per_kind, self.signup_next, s.rng)
        self.signup_next += 3 * per_kind + 10

        def task(i: int) -> tuple[float, bool, str]:
            kind, form = plan[i]
            kind, seconds, status, masked = accounts_at_scale.sign_up(s.base, kind, form)
            hint = kind == "existing person (hint)"  # 409 with the masked address, no password hashed
            ok = (status == 409 and masked) if hint else status == 200
            return seconds, ok, kind

        return drive(task, concurrency=self.args.concurrency, warmup=self.args.warmup, seconds=self.args.duration)

    # --- memory ------------------------------------------------------------------------------------------------

    def run_memory(self) -> None:
        if not self.wanted("memory"):
            return
        log("memory: Redis MEMORY USAGE of keys written by real requests, VmRSS of the worker …")
        from idp.one_time_tokens import token_hash
        from idp.redis_store import Keys, user_tag
        from idp.sessions import COOKIE_NAME, _storage_id
        from plugins.recovery.requests import RESET

        s, count = self.stack, 20 if self.args.quick else 100
        keys = Keys(self.stack.prefix)  # the app's own key names (hash-tagged: idp/redis_store.py)

        def usage(key: str) -> int | None:
            return s.redis.memory_usage(key, samples=0)

        def session_key(browser: requests.Session) -> str:
            cookie = browser.cookies[COOKIE_NAME]
            return keys.tagged("session", cookie.partition(".")[0], _storage_id(cookie))

        anonymous, pending1, pending2, signed_in, index, ott = [], [], [], [], [], []
        client = s.code_client.client_id
        for n in range(count):
            browser = requests.Session()
            browser.get(f"{s.base}/login", timeout=TIMEOUT)
            anonymous.append(usage(session_key(browser)))
            browser = requests.Session()
            for state in ("a", "b"):
                params = {"response_type": "code", "client_id": client, "redirect_uri": REDIRECT_URI,
                          "scope": "openid email", "state": state * 40, "nonce": secrets.token_urlsafe(16),
                          "code_challenge": secrets.token_urlsafe(32), "code_challenge_method": "S256"}
                browser.get(f"{s.base}/oauth/authorize?{urlencode(params)}", allow_redirects=False, timeout=TIMEOUT)
                (pending1 if state == "a" else pending2).append(usage(session_key(browser)))
            browser, _ = self.flow(n % max(1, s.citizens // 2))
            signed_in.append(usage(session_key(browser)))
            user_id = s.reset_users[n % len(s.reset_users)]
            token = self.reset_tokens().issue(user_id, RESET, 1800)
            ott.append(usage(keys.tagged("ott", token.partition(".")[0], token_hash(token))))
        for user_id in s.reset_users[:count]:
            index.append(usage(keys.tagged("ott-user", user_tag(user_id), user_id)))

        def mean(values):
            values = [v for v in values if v is not None]
            return round(statistics.fmean(values)) if values else None

        extra = [b - a for a, b in zip(pending1, pending2, strict=True) if a is not None and b is not None]
        self.memory = [
            {"what": "Redis: session after GET /login (CSRF token only), bytes", "value": mean(anonymous)},
            {"what": "Redis: session holding one pending authorization (after GET /authorize), bytes",
             "value": mean(pending1)},
            {"what": "Redis: one more pending authorization in a session (2nd GET /authorize − 1st), bytes",
             "value": mean(extra)},
            {"what": "Redis: signed-in session after the whole sign-in, bytes", "value": mean(signed_in)},
            {"what": "Redis: reset token (ott:{tag}:<hash>), bytes", "value": mean(ott)},
            {"what": "Redis: a user's link index (ott-user:{tag}:<id>: live reset links and password-changed notices), "
                     "bytes", "value": mean(index)},
        ]
        workers = s.worker_pids()
        rss = [r for r in (vm_rss(pid) for pid in workers) if r]
        self.memory.append({"what": f"VmRSS of one Granian worker after the scenarios ({len(rss)} worker(s)), bytes",
                            "value": max(rss) if rss else None})
        self.memory.append({"what": "VmRSS of the `idp serve` main process, bytes", "value": vm_rss(s.server.pid)})
        self.memory.append({"what": "averaged over, keys of each kind", "value": count})


# --- the report ------------------------------------------------------------------------------------------------------

def command_output(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not found"


def machine(stack: Stack | None) -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    redis_version = command_output([stack.redis_binary if stack else "redis-server", "--version"])
    from importlib.metadata import version

    return {
        "cores": str(os.cpu_count()), "cpu": model, "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(), "node": command_output(["node", "--version"]) or "not found",
        "redis": (re.search(r"v=(\S+)", redis_version) or [None, redis_version])[1],
        "database": describe_database(stack.database_url) if stack and stack.database_url else "?",
        "granian": version("granian"), "wrk": (re.findall(r"wrk (\S+)", command_output(["wrk", "-v"])) or ["?"])[0],
        "load average at start": f"{os.getloadavg()[0]:.2f}",
    }


def commit() -> str:
    sha = command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]) or "unknown"
    dirty = command_output(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    return sha + ("-dirty" if dirty else "")


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def table(bench: Bench) -> str:
    head = ("| scenario | Sésame req/s | p50 ms | p99 ms | errors | peer req/s | p50 ms | p99 ms | errors "
            "| ratio Sésame/peer | fraction of ceiling |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    group = None
    for row in bench.rows:
        if row["group"] != group:
            group = row["group"]
            lines.append(f"| **{group}** |  |  |  |  |  |  |  |  |  |  |")
        ours, peer = row["sesame_total"], row["peer_total"]
        cells = [row["scenario"]]
        for side in (ours, peer):
            if side:
                cells += [number(side["rate"]), number(side["p50_ms"], 1), number(side["p99_ms"], 1),
                          str(side["errors"])]
            else:
                cells += ["n/a" if side is ours and row["note"] else "–", "–", "–", "–"]
        cells.append(f"{ours['rate'] / peer['rate']:.2f}" if ours and peer and peer["rate"] else "–")
        ceiling = bench.ceiling.get(row["ceiling"]) if row["ceiling"] else None
        cells.append(f"{ours['rate'] / ceiling:.0%} of {row['ceiling']}" if ours and ceiling else "–")
        lines.append("| " + " | ".join(cells) + " |")
    if bench.memory:
        lines.append("| **Memory** |  |  |  |  |  |  |  |  |  |  |")
        for item in bench.memory:
            lines.append(f"| {item['what']} | {number(item['value'])} |  |  |  |  |  |  |  |  |  |")
    return "\n".join(lines)


def report(bench: Bench, info: dict, started: dt.datetime, sha: str, elapsed: float) -> str:
    a = bench.args
    out = [f"# Sésame bench, {started:%Y-%m-%d %H:%M} UTC, commit {sha}", "",
           "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()) + ".", "",
           f"Settings: `idp serve --production --workers {a.workers}` (Granian WSGI, 1 thread a worker), "
           f"IDP_ENV=production, private redis-server, rate limits out of the way; wrk -t1 -c{a.connections}; "
           f"own driver {a.concurrency} threads; warm-up {a.warmup:g} s, {a.duration:g} s a run, {a.rounds} "
           f"round(s), systems alternating; {bench.stack.citizens:,} citizens + {bench.stack.accounts:,} accounts "
           f"(seeded in {bench.stack.seed_seconds:.0f} s); whole run {elapsed:.0f} s.", ""]
    if bench.peer_reason:
        out += [f"Peer: skipped ({bench.peer_reason}).", ""]
    else:
        from bench.peer import VERSION

        out += [f"Peer: oidc-provider {VERSION} on node, one process, storage in memory, seeded by itself; "
                "refresh tokens without openid on both sides (no ID token on refresh); its introspection and "
                "userinfo take opaque tokens (oidc-provider cannot introspect JWTs), ours JWTs that are verified.",
                ""]
    if bench.wrk_reason:
        out += [f"wrk: {bench.wrk_reason}", ""]
    out += [table(bench), "", "Rates: requests (or whole flows) a second over all rounds; p50/p99: median of the "
            "rounds'; errors: connection errors, timeouts and non-2xx answers (for flows: any step that failed). "
            "Fraction of ceiling: our rate ÷ the ceiling's rate on this run.", ""]
    notes = [f"- {row['scenario']}: {row['what']}" + (f" ({row['note']})" if row["note"] else "")
             for row in bench.rows]
    return "\n".join([*out, "What each row measures:", "", *notes]) + "\n"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                     epilog=HELP_SCENARIOS, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", help="comma-separated names (below); default all")
    parser.add_argument("--no-peer", action="store_true", help="Sésame only: skip the peer's columns")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s warm-up, 3 s runs, 1 round")
    parser.add_argument("--database-url", help="a PostgreSQL server: the bench creates sesame_bench_<random> there "
                        "and drops it (default: IDP_TEST_DATABASE_URL's server if set, else a fresh SQLite file)")
    parser.add_argument("--workers", type=int, default=1, help="Granian workers (default 1: comparisons per process)")
    parser.add_argument("--connections", type=int, default=8, help="wrk keep-alive connections (default 8)")
    parser.add_argument("--concurrency", type=int, default=4, help="threads of the own driver for flows (default 4)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of each timed run (default 10)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of warm-up before each run (default 3)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds, the systems alternating (default 2)")
    parser.add_argument("--accounts", type=int, default=10_000,
                        help="accounts seeded for the sign-up scenario (default 10,000; README: 1,000,000)")
    parser.add_argument("--citizens", type=int, default=1000, help="citizens who sign in, recover, reset")
    parser.add_argument("--peer-seed", type=int, default=2000, help="tokens the peer mints for itself")
    parser.add_argument("--refresh-pool", type=int, default=2000, help="refresh token families for Sésame")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results", help="folder of the .md/.json")
    parser.add_argument("--seed", type=int, default=None, help="random seed (names, plans)")
    args = parser.parse_args(argv)
    quick = {"duration": 3.0, "warmup": 1.0, "rounds": 1} if args.quick else {}
    for name, default in (("duration", 10.0), ("warmup", 3.0), ("rounds", 2)):
        if getattr(args, name) is None:
            setattr(args, name, quick.get(name, default))
    chosen = [name.strip() for name in (args.scenarios or ",".join(SCENARIOS)).split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose among {', '.join(SCENARIOS)}")
    args.scenarios = chosen
    return args


def ensure_wrk() -> str | None:
    """None when wrk is there (installed with apt-get when missing and root), else why it is not."""
    if wrk_binary():
        return None
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk: missing, apt-get install -y wrk …")
        subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, timeout=600)
        if wrk_binary():
            return None
    return "wrk is not installed (Debian: `sudo apt-get install wrk`); its scenarios are skipped"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # Ctrl-C and SIGTERM both unwind through the finally below, which stops every process started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began, started = time.perf_counter(), dt.datetime.now(dt.UTC)
    bench = Bench(args)
    bench.wrk_reason = ensure_wrk()
    if bench.wrk_reason:
        log(bench.wrk_reason)
        args.scenarios = [n for n in args.scenarios if n in ("argon2", "redis", "signin", "recovery", "reset",
                                                             "signup", "memory")]
    if args.no_peer:
        bench.peer_reason = "--no-peer"
    else:
        from bench.peer import available

        bench.peer_reason = available()
        if bench.peer_reason:
            log(f"peer: unavailable ({bench.peer_reason}); its columns are empty")
    stack = Stack(workers=args.workers, citizens=args.citizens, accounts=args.accounts if "signup" in args.scenarios
                  else 0, refresh_pool=args.refresh_pool, userinfo_pool=200,
                  database_server_url=database_server(args.database_url), seed=args.seed)
    bench.stack = stack
    try:
        stack.start(log)
        info = machine(stack)
        bench.run_peer_comparison()
        bench.run_ceilings()
        bench.run_own()
        bench.run_memory()
        sha = commit()
        text = report(bench, info, started, sha, time.perf_counter() - began)
        print(text)
        args.output.mkdir(parents=True, exist_ok=True)
        stem = args.output / f"{started:%Y-%m-%d}-{sha}"
        stem.with_suffix(".md").write_text(text)
        raw = {"date": started.isoformat(), "commit": sha, "machine": info,
               "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "peer": bench.peer_reason or "ran", "ceilings": bench.ceiling, "rows": bench.rows,
               "memory": bench.memory}
        stem.with_suffix(".json").write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n")
        log(f"written: {stem}.md and {stem}.json")
        return 0
    finally:
        for variant in list(bench.peers):
            bench.peers.pop(variant).stop()
        stack.close()
