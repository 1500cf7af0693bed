"""What tests/test_soak.py drives: a private PostgreSQL server it may restart, two instances of the
provider on a Redis Sentinel group, the load (sign-ins, refreshes, reset requests), the faults'
timeline, and what is checked and reported at the end.

Everything is observed as a client, a citizen or an operator would: HTTP answers (pages, JSON,
``/metrics``), the mails in the SMTP sink, and rows of the SQL database.  Nothing here reads a Redis
key or relies on the shape of a session cookie or of a one-time token.
"""

from __future__ import annotations

import email.utils
import hashlib
import itertools
import json
import os
import pwd
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from test_redis_sentinel import SentinelGroup
from test_two_instances import GUNICORN, Answer, Browser, wait_healthy

from idp import db as idp_db

from conftest import SmtpSink, free_port
from helpers import (
    PASSWORD,
    REDIRECT_URI,
    authorize_url,
    csrf_token,
    idp_env,
    link_in,
    make_client,
    make_user,
    metric_sample,
    pkce_pair,
    query,
    run_idp,
)

PG_BIN = Path(os.environ.get("IDP_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
IDP = os.path.join(os.path.dirname(sys.executable), "idp")
NEW_PASSWORD = "a walk along the river at dawn"
UNAVAILABLE = "<h1>Service momentanément indisponible</h1>"
NEUTRAL = "<h1>Consultez votre messagerie</h1>"
LINK_USED = "<h1>Ce lien ne fonctionne plus</h1>"
# A job in the hands of a worker that died (SIGKILL, or the Redis master lost mid-job) waits this long
# for another (IDP_JOBS_LEASE, 120 s by default): above the SMTP timeout, short enough for CI.
LEASE = 35
# The load comes from one address: the per-address limits would answer 429 to most of it.
UNLIMITED = {name: "100000/minute" for name in (
    "IDP_LOGIN_RATE_LIMIT", "IDP_AUTHORIZE_RATE_LIMIT", "IDP_RECOVERY_RATE_LIMIT", "IDP_RECOVERY_ACCOUNT_RATE_LIMIT")}


# --- PostgreSQL of our own -------------------------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL server of this test's own (the machine's shared one must never be restarted), on a
    free loopback port with trust authentication.  PostgreSQL refuses to run as root: then its
    commands run as the ``postgres`` user, in a folder that user owns."""

    def __init__(self):
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="sesame-soak-pg-"))  # not under pytest's 0700 tmp
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.as_postgres = os.geteuid() == 0
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/sesame"
        self.running = False

    @staticmethod
    def missing() -> str | None:
        """Why this machine cannot run one, or None."""
        absent = [name for name in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / name).exists()]
        if absent:
            return (f"the soak test needs PostgreSQL's server binaries ({', '.join(absent)} not in {PG_BIN}; "
                    f"apt-get install -y postgresql-15, or IDP_TEST_PG_BIN=<their folder>)")
        if os.geteuid() == 0 and not _user_exists("postgres"):
            return "the soak test runs as root: PostgreSQL then needs a 'postgres' user to run as"
        return None

    def _run(self, *command: str, timeout: float = 90) -> None:
        argv = [str(PG_BIN / command[0]), *command[1:]]
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:2])} failed: {done.stdout}{done.stderr}{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def start(self) -> None:
        if self.as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start_server()
        admin = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres",
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE sesame"))
        admin.dispose()

    def start_server(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options)
        self.running = True

    def stop_server(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")
        self.running = False

    def close(self) -> None:
        try:
            if self.running:
                self.stop_server("immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# --- The deployment ---------------------------------------------------------------------------------


@dataclass
class Citizen:
    """An account whose password is reset during the soak (no password of its own)."""

    username: str
    email: str
    asked: list[tuple[float, str]] = field(default_factory=list)  # (when, "accepted" | an error outcome)

    @property
    def accepted(self) -> int:
        return sum(1 for _at, outcome in self.asked if outcome == "accepted")


class Deployment:
    """Two instances, each `gunicorn -w 2` with its own `idp mail worker`, as in
    tests/test_two_instances.py, here on a Redis Sentinel group (master, replica, three sentinels),
    a private PostgreSQL server and one SMTP sink, so that each can be made to fail."""

    def __init__(self, folder: Path, signing_keys: Path):
        self.folder = folder
        self.signing_keys = signing_keys
        self.postgres = PrivatePostgres()
        self.sentinels = SentinelGroup(folder / "sentinel-group")
        self.smtp = SmtpSink(free_port())
        self.webs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.retired: list[subprocess.Popen] = []  # mail workers killed during the soak
        self.urls: list[str] = []
        self.envs: list[dict] = []
        self.logs: list[Path] = []
        self.timings: dict[str, float] = {}  # seconds since start() began, at the end of each step

    def start(self, signers: int, citizens: int) -> None:
        began = time.monotonic()
        failed: list[BaseException] = []
        sentinels = threading.Thread(target=_catching(self.sentinels.start, failed))  # seconds of waiting
        sentinels.start()
        try:
            self.postgres.start()
            self.timings["PostgreSQL"] = time.monotonic() - began
            upgraded = run_idp(idp_env({"IDP_DATABASE_URL": self.postgres.url,  # once, for both instances
                                        "IDP_INSTANCE_DIR": self.folder / "upgrade"}), "db", "upgrade")
            assert upgraded.returncode == 0, upgraded.stderr
            self._seed(signers, citizens)
            self.timings["schema and accounts"] = time.monotonic() - began
        finally:
            sentinels.join(60)
        assert not sentinels.is_alive(), "the Sentinel group did not start"
        if failed:
            raise failed[0]
        self.timings["Sentinel group"] = time.monotonic() - began
        self.smtp.start()
        keys = self.folder / "shared-keys" / "jwks.private.json"  # a volume both hosts mount
        keys.parent.mkdir()
        shutil.copy(self.signing_keys, keys)
        ports = [free_port(), free_port()]
        shared = {"IDP_DATABASE_URL": self.postgres.url, "IDP_REDIS_URL": self.sentinels.url,
                  "IDP_SMTP_URL": self.smtp.url, "IDP_ISSUER": f"http://127.0.0.1:{ports[0]}",
                  "IDP_SIGNING_KEYS": keys, "IDP_DB_AUTO_UPGRADE": "false",
                  "IDP_SECRET_KEY": os.urandom(24).hex(), "IDP_JOBS_LEASE": str(LEASE), **UNLIMITED}
        self.envs = [idp_env({**shared, "IDP_INSTANCE_DIR": self.folder / f"host-{n}"}) for n in range(2)]
        for n, port in enumerate(ports):
            self.logs.append(self.folder / f"host-{n}.log")
            with open(self.logs[n], "a") as output:
                self.webs.append(subprocess.Popen(
                    [GUNICORN, "-w", "2", "-b", f"127.0.0.1:{port}", "idp:create_app()"], env=self.envs[n],
                    cwd=self.folder, stdout=output, stderr=subprocess.STDOUT))
            self.workers.append(self.start_worker(n))
            self.urls.append(f"http://127.0.0.1:{port}")
        for url, web, log in zip(self.urls, self.webs, self.logs, strict=True):
            wait_healthy(url, web, log)
        self.timings["instances ready"] = time.monotonic() - began

    def _seed(self, signers: int, citizens: int) -> None:
        engine = idp_db.make_engine(self.postgres.url)
        with Session(engine) as db:
            self.signers = [make_user(db, username=f"usager.{n}", email=f"usager.{n}@example.fr",
                                      given_name="Dominique", family_name=f"Usager {n}").username
                            for n in range(signers)]
            self.citizens = [Citizen(f"citoyen.{n:03d}", f"citoyen.{n:03d}@example.fr") for n in range(citizens)]
            for citizen in self.citizens:  # no password: no hash to compute, and recovery is how they get one
                make_user(db, username=citizen.username, email=citizen.email, password=None,
                          given_name="Camille", family_name=f"Citoyen {citizen.username[-3:]}")
            self.client = make_client(db, name="Service régional")
        engine.dispose()

    def start_worker(self, n: int) -> subprocess.Popen:
        with open(self.folder / f"host-{n}.log", "a") as output:
            return subprocess.Popen([IDP, "mail", "worker"], env=self.envs[n], cwd=self.folder, stdout=output,
                                    stderr=subprocess.STDOUT)

    def kill_mail_worker(self, n: int) -> int:
        """SIGKILL the mail worker of instance ``n`` (no chance to finish its job); its pid."""
        worker = self.workers[n]
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        self.retired.append(worker)
        return worker.pid

    def metrics(self) -> str:
        return requests.get(f"{self.urls[0]}/metrics", timeout=10).text

    def close(self) -> None:
        """Stop everything this deployment started, each part even when another fails."""
        failed: list[BaseException] = []
        for step in (self._stop_processes, self.smtp.stop, self.sentinels.stop, self.postgres.close):
            _catching(step, failed)()
        if failed:
            raise failed[0]

    def _stop_processes(self) -> None:
        processes = [process for process in [*self.workers, *self.webs] if process.poll() is None]
        for process in processes:  # all at once: each takes a second or two to finish what it holds
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _catching(step, failed: list[BaseException]):
    """``step``, keeping what it raises in ``failed`` instead."""

    def run() -> None:
        try:
            step()
        except BaseException as error:
            failed.append(error)

    return run


# --- What every answer was -------------------------------------------------------------------------


JSON_KINDS = {"token: code", "token: refresh"}


@dataclass
class Call:
    at: float  # seconds since the load started, when it was sent
    ended: float  # when its answer (or the failure to get one) came
    phase: str  # "load" or "check"
    kind: str
    instance: int
    status: int | None
    outcome: str
    documented: bool


def outcome_of(answer: Answer, kind: str) -> tuple[str, bool]:
    """What a client saw, and whether it is one of the documented answers: success or a redirect, the
    readable 503 page, a JSON ``temporarily_unavailable`` 503, or an OAuth error from the token endpoint."""
    status = answer.status_code
    if status < 400:
        return "ok", True
    body = answer.data.decode(errors="replace")
    is_json = answer.headers.get("Content-Type", "").startswith("application/json")
    error = None
    if is_json:
        try:
            error = json.loads(body).get("error")
        except ValueError:
            error = None
    if status == 503:
        if is_json:
            return f"503 {error}", error == "temporarily_unavailable"
        return ("503 page", True) if UNAVAILABLE in body else ("503 without the readable page", False)
    if status >= 500:
        return f"{status} {error or _title(body)}", False
    if is_json and error and kind in JSON_KINDS:
        return f"{status} {error}", True
    return f"{status} {error or _title(body)}", False


def _title(body: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", body, re.S)
    return found.group(1).strip() if found else body[:60].strip()


class Recorder:
    """Every answer of the soak, with its time, kind, instance and outcome."""

    def __init__(self):
        self.started = time.monotonic()
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.alive = lambda instance: True  # set by the test: was that instance's gunicorn up?

    def now(self) -> float:
        return time.monotonic() - self.started

    def send(self, kind: str, instance: int, request, phase: str = "load") -> Answer | None:
        """Run ``request`` (a call returning an Answer or a requests.Response) and keep what it answered."""
        at = self.now()
        try:
            answer = request()
        except requests.Timeout:
            self._keep(Call(at, self.now(), phase, kind, instance, None, "timeout", False))
            return None
        except requests.ConnectionError:
            outcome = "connection error" + ("" if self.alive(instance) else " (instance down)")
            self._keep(Call(at, self.now(), phase, kind, instance, None, outcome, False))
            return None
        if isinstance(answer, requests.Response):
            answer = Answer(answer)
        outcome, documented = outcome_of(answer, kind)
        self._keep(Call(at, self.now(), phase, kind, instance, answer.status_code, outcome, documented))
        return answer

    def _keep(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    def errors(self, phase: str = "load") -> list[Call]:
        return [call for call in self.calls if call.phase == phase and call.outcome != "ok"]


# --- The load ---------------------------------------------------------------------------------------


@dataclass
class Family:
    """A refresh-token family as its relying party holds it: the newest refresh token it was given."""

    user: str
    token: str
    created: float
    rotations: int = 0
    lost: str | None = None  # the error that ended it
    history: list[str] = field(default_factory=list)  # the last answers to its refreshes


class Load:
    """Threads of citizens and relying parties, each request sent to the instances in turn (no sticky
    sessions): full sign-ins (authorization code with PKCE, login, code exchange), refreshes of the
    families they got, and "Mot de passe oublié" requests for the pool of citizens."""

    def __init__(self, deployment: Deployment, recorder: Recorder, threads: int, think: float):
        self.deployment = deployment
        self.recorder = recorder
        self.urls = deployment.urls
        self.client_id, self.secret = deployment.client
        self.think = think
        self.stopping = threading.Event()
        self.families: list[list[Family]] = [[] for _ in range(threads)]
        self.sign_ins = Counter()
        self.failures: list[str] = []  # what broke a client of the load itself
        order = list(deployment.citizens)
        random.Random(13).shuffle(order)
        self._citizens = itertools.cycle(order)
        self._citizens_lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,), name=f"soak-{n}", daemon=True)
                        for n in range(threads)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in self.threads), "a load thread did not stop"

    def _run(self, n: int) -> None:
        rng = random.Random(n)
        turn = itertools.count(n)
        while not self.stopping.is_set():
            roll = rng.random()
            families = [family for family in self.families[n] if family.lost is None]
            try:
                if roll < 0.25:
                    self.ask_reset(turn)
                elif roll < 0.5 or not families:
                    self.sign_in(n, turn, rng)
                else:
                    self.refresh(rng.choice(families), turn)
            except Exception as error:  # an answer this client could not read: kept, and the load goes on
                self.failures.append(f"{type(error).__name__}: {error}"[:200])
            self.stopping.wait(self.think)

    def _send(self, kind: str, turn, method: str, path: str, http: requests.Session, **kwargs) -> Answer | None:
        instance = next(turn) % 2
        browser = Browser(self.urls[instance], http)
        return self.recorder.send(kind, instance, lambda: getattr(browser, method)(path, **kwargs))

    def sign_in(self, n: int, turn, rng: random.Random) -> None:
        with requests.Session() as http:
            self._sign_in(http, n, turn, rng)

    def _sign_in(self, http: requests.Session, n: int, turn, rng: random.Random) -> None:
        user = rng.choice(self.deployment.signers)
        verifier, challenge = pkce_pair()
        asked = self._send("authorize", turn, "get", authorize_url(
            self.client_id, code_challenge=challenge, code_challenge_method="S256", nonce="n-soak"), http)
        if not _redirected(asked, "/login"):
            return self._broken("authorize", asked)
        rid = query(asked.location)["rid"]
        page = self._send("login page", turn, "get", f"/login?rid={rid}", http)
        if page is None or page.status_code != 200:
            return self._broken("login page", page)
        signed = self._send("login", turn, "post", "/login", http, data={
            "csrf_token": csrf_token(page.data), "username": user, "password": PASSWORD, "rid": rid})
        if not _redirected(signed, "/oauth/authorize", status=303):
            return self._broken("login", signed)
        resumed = self._send("authorize: resume", turn, "get", signed.location, http)
        if resumed is None or resumed.status_code != 302 or not resumed.location.startswith(REDIRECT_URI):
            return self._broken("authorize: resume", resumed)
        instance = next(turn) % 2
        tokens = self.recorder.send("token: code", instance, lambda: requests.post(
            f"{self.urls[instance]}/oauth/token", auth=(self.client_id, self.secret), timeout=30, data={
                "grant_type": "authorization_code", "code": query(resumed.location)["code"],
                "redirect_uri": REDIRECT_URI, "code_verifier": verifier}))
        if tokens is None or tokens.status_code != 200:
            return self._broken("token: code", tokens)
        self.sign_ins["completed"] += 1
        self.families[n].append(Family(user, tokens.json()["refresh_token"], self.recorder.now()))
        return None

    def _broken(self, step: str, answer: Answer | None) -> None:
        """A sign-in that stopped at ``step``: an error answer (recorded as such), or an answer that was
        not an error but not the journey's next step either (counted apart, to be looked at)."""
        if answer is not None and answer.status_code < 400:
            self.sign_ins[f"unexpected at {step}: {answer.status_code} {answer.location or ''}"[:120]] += 1
        else:
            self.sign_ins[f"stopped at {step}"] += 1

    def refresh(self, family: Family, turn) -> None:
        instance = next(turn) % 2
        answer = self.recorder.send("token: refresh", instance, lambda: requests.post(
            f"{self.urls[instance]}/oauth/token", auth=(self.client_id, self.secret), timeout=30,
            data={"grant_type": "refresh_token", "refresh_token": family.token}))
        outcome = "no answer" if answer is None else outcome_of(answer, "token: refresh")[0]
        family.history = [*family.history[-4:], f"{self.recorder.now():.1f}s {outcome}"]
        if answer is not None and answer.status_code == 200:
            family.token = answer.json()["refresh_token"]
            family.rotations += 1
        elif answer is not None and answer.status_code == 400:
            family.lost = outcome  # the relying party must sign the citizen in again

    def ask_reset(self, turn) -> None:
        with self._citizens_lock:
            citizen = next(self._citizens)
        with requests.Session() as http:
            self._ask_reset(http, citizen, turn)

    def _ask_reset(self, http: requests.Session, citizen: Citizen, turn) -> None:
        page = self._send("reset: form", turn, "get", "/recovery/password", http)
        if page is None or page.status_code != 200:
            return
        typed = citizen.email if len(citizen.asked) % 2 else citizen.username  # either is accepted
        sent = self._send("reset: ask", turn, "post", "/recovery/password", http,
                          data={"csrf_token": csrf_token(page.data), "login": typed})
        if sent is None:
            citizen.asked.append((self.recorder.now(), "no answer"))  # queued or not: unknown
        elif sent.status_code == 200 and NEUTRAL in sent.data.decode():
            citizen.asked.append((self.recorder.now(), "accepted"))
        else:
            citizen.asked.append((self.recorder.now(), outcome_of(sent, "reset: ask")[0]))
        return None

    def held(self) -> list[Family]:
        return [family for families in self.families for family in families]


def _redirected(answer: Answer | None, path: str, status: int = 302) -> bool:
    return answer is not None and answer.status_code == status and urlparse(answer.location or "").path == path


# --- The faults ---------------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    at: float  # when it started, seconds since the load started
    healed: float | None = None  # when the service it broke was back
    detail: str = ""


class Faults:
    """The faults, one after another, while the load runs.  Those that can leave a job leased for the
    worker's two-minute lease (a worker killed, a master lost mid-job) come first, so the drain at
    the end stays short; the SMTP outage, whose retries back off the longest, comes last."""

    def __init__(self, deployment: Deployment, recorder: Recorder, seconds: float):
        self.deployment = deployment
        self.recorder = recorder
        self.smtp_outage = seconds / 5  # 60 s when the soak lasts 300 s
        self.postgres_down = max(3.0, seconds / 30)
        self.schedule = [
            (max(1.5, 0.02 * seconds), "mail worker of instance 0 killed (SIGKILL), a new one started",
             self.kill_worker),
            (max(4.0, 0.06 * seconds), "Redis master killed (SIGKILL), Sentinel fails over", self.fail_over),
            (0.25 * seconds, "PostgreSQL restarted (stop -m fast, start)", self.restart_postgres),
            (0.45 * seconds, "SMTP server stopped, then started on the same port", self.stop_smtp),
        ]
        self.done: list[Fault] = []
        self.thread = threading.Thread(target=self._run, name="soak-faults", daemon=True)
        self.failure: BaseException | None = None

    def _run(self) -> None:
        try:
            for at, name, inject in self.schedule:
                time.sleep(max(0.0, at - self.recorder.now()))
                fault = Fault(name, self.recorder.now())
                self.done.append(fault)
                fault.detail = inject()
                fault.healed = self.recorder.now()
        except BaseException as error:  # reported by join(): the load goes on until its end
            self.failure = error

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the faults did not finish in time"
        if self.failure is not None:
            raise self.failure

    def fail_over(self) -> str:
        sentinels = self.deployment.sentinels
        old = sentinels.master_port
        sentinels.kill_master()
        killed = self.recorder.now()
        sentinels.wait_for_failover()
        promoted = self.recorder.now() - killed
        return f"master :{old} killed; replica :{sentinels.replica_port} promoted {promoted:.1f} s later"

    def kill_worker(self) -> str:
        pid = self.deployment.kill_mail_worker(0)
        time.sleep(1)  # a service manager's restart delay
        self.deployment.workers[0] = self.deployment.start_worker(0)
        return f"pid {pid} killed; pid {self.deployment.workers[0].pid} started"

    def restart_postgres(self) -> str:
        postgres = self.deployment.postgres
        postgres.stop_server("fast")
        time.sleep(self.postgres_down)
        postgres.start_server()
        return f"down {self.postgres_down:.0f} s"

    def stop_smtp(self) -> str:
        self.deployment.smtp.stop()
        time.sleep(self.smtp_outage)
        self.deployment.smtp.start()
        return f"down {self.smtp_outage:.0f} s"


# --- After the load ---------------------------------------------------------------------------------


@dataclass
class ResetMail:
    to: str
    link: str
    sent: float  # the Date header, as a timestamp (one-second resolution)


def reset_mails(sink: SmtpSink) -> list[ResetMail]:
    with sink.received:
        messages = list(sink.messages)
    found = []
    for message in messages:
        body = SmtpSink.text(message)
        if "/recovery/reset/" in body:
            found.append(ResetMail(str(message["To"]), link_in(body, "/recovery/reset/"),
                                   email.utils.parsedate_to_datetime(str(message["Date"])).timestamp()))
    return found


def mails_missing(citizens: list[Citizen], mails: list[ResetMail]) -> dict[str, tuple[int, int]]:
    """The citizens with fewer distinct reset links than requests accepted: {username: (accepted, links)}.
    Each accepted request is a job that issues one link and mails it; a job run twice (a worker killed,
    a failover) mails one more, never fewer."""
    links: dict[str, set[str]] = {}
    for mail in mails:
        links.setdefault(mail.to, set()).add(mail.link)
    return {citizen.username: (citizen.accepted, len(links.get(citizen.email, ())))
            for citizen in citizens if len(links.get(citizen.email, ())) < citizen.accepted}


def drain(deployment: Deployment, citizens: list[Citizen], deadline: float) -> dict:
    """Wait (until ``deadline``, a monotonic time) for the job queue to empty and every accepted request's
    mail to arrive; what /metrics said last."""
    queued = None
    while True:
        try:
            queued = metric_sample(deployment.metrics(), "sesame_jobs_queued")
        except requests.RequestException:
            queued = None
        if queued == 0 and not mails_missing(citizens, reset_mails(deployment.smtp)):
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(1)
    text_ = deployment.metrics()
    return {"jobs_queued": int(metric_sample(text_, "sesame_jobs_queued")),
            "jobs_dropped": int(metric_sample(text_, "sesame_jobs_dropped_total")),
            **{f"mails_{outcome}": int(metric_sample(text_, "sesame_mails_total", outcome=outcome))
               for outcome in ("sent", "failed", "dead")}}


def check_links(citizen: Citizen, mails: list[ResetMail], urls: list[str], recorder: Recorder) -> tuple[dict, list]:
    """Of one citizen's reset links, only the newest works (each new link supersedes the earlier ones:
    idp/one_time_tokens.py, README "Only the newest link works"), and only once; the new password then
    signs the citizen in.  What was seen, and the problems."""
    links: dict[str, float] = {}
    for mail in mails:
        links[mail.link] = max(mail.sent, links.get(mail.link, 0))
    problems: list[str] = []
    seen = Counter(mails=len(mails), links=len(links))
    http = requests.Session()

    def send(kind: str, instance: int, method: str, path: str, **kwargs) -> Answer | None:
        browser = Browser(urls[instance], http)
        return recorder.send(kind, instance, lambda: getattr(browser, method)(path, **kwargs), phase="check")

    opened = {link: send("check: open link", n % 2, "get", link) for n, link in enumerate(links)}
    working = [link for link, page in opened.items()
               if page is not None and page.status_code == 200 and b'name="new_password"' in page.data]
    refused = [link for link, page in opened.items() if page is not None and page.status_code == 410
               and LINK_USED in page.data.decode()]
    seen["superseded"] = len(refused)
    if len(working) != 1 or len(working) + len(refused) != len(links):
        problems.append(f"{citizen.username}: of {len(links)} link(s), {len(working)} open(s) the form and "
                        f"{len(refused)} show(s) the used-link page (expected exactly one working)")
        return dict(seen), problems
    [link] = working
    newest = max(links.values())
    if links[link] < newest - 2:  # Date has a one-second resolution, and two workers run side by side
        problems.append(f"{citizen.username}: the working link is not the newest one mailed")
    form = {"csrf_token": csrf_token(opened[link].data), "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD}
    changed = send("check: use link", 0, "post", link, data=form)
    if changed is None or changed.status_code != 303 or urlparse(changed.location).path != "/login":
        problems.append(f"{citizen.username}: the working link did not change the password "
                        f"({changed and changed.status_code})")
        return dict(seen), problems
    seen["worked once"] += 1
    again = send("check: use link again", 1, "post", link, data=form)
    if again is None or again.status_code != 410 or LINK_USED not in again.data.decode():
        problems.append(f"{citizen.username}: a second use of the link answered {again and again.status_code}")
    else:
        seen["second use refused"] += 1
    if refused:  # each was shown as used already; one posted, as a citizen with an older mail would
        used = send("check: use superseded link", 1, "post", refused[-1], data=form)
        if used is None or used.status_code != 410 or LINK_USED not in used.data.decode():
            problems.append(f"{citizen.username}: a superseded link answered {used and used.status_code}")
    page = send("check: login page", 0, "get", "/login")
    signed = page if page is None or page.status_code != 200 else send("check: login", 1, "post", "/login", data={
        "csrf_token": csrf_token(page.data), "username": citizen.username, "password": NEW_PASSWORD})
    if signed is None or signed.status_code != 303:
        problems.append(f"{citizen.username}: the new password does not sign in ({signed and signed.status_code})")
    else:
        seen["signed in with the new password"] += 1
    return dict(seen), problems


def family_states(database_url: str, held: list[Family]) -> tuple[Counter, list[str]]:
    """Each refresh-token family as the SQL database holds it, next to what its relying party holds.

    A family is sound when it has exactly one live token (not used, not revoked, not expired) and no
    revoked one, and its relying party holds that token; or when every token of it is revoked (reuse
    detection).  Half-rotated is anything else: used tokens and no live successor while the family is
    not revoked, two live tokens, some tokens revoked and others not, or a relying party holding a used
    token while the family lives on (the rotation committed, its answer never reached the client)."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT family_id, token_hash, used_at, revoked_at, expires_at FROM refresh_tokens")).all()
    engine.dispose()
    now = time.time()
    by_family: dict[str, list] = {}
    for row in rows:
        by_family.setdefault(row.family_id, []).append(row)
    holder = {hashlib.sha256(family.token.encode()).hexdigest(): family for family in held}
    states: Counter = Counter()
    problems = []
    for family_id, tokens in by_family.items():
        live = [row for row in tokens if row.used_at is None and row.revoked_at is None
                and row.expires_at.timestamp() > now]  # naive UTC, as idp.models stores it
        revoked = [row for row in tokens if row.revoked_at is not None]
        held_rows = [row for row in tokens if row.token_hash in holder]
        if len(revoked) == len(tokens):
            state = "revoked (reuse detected)"
        elif revoked:
            state = "half-rotated: partly revoked"
        elif len(live) > 1:
            state = "half-rotated: two live tokens"
        elif not live:
            state = "half-rotated: rotated out, no successor"
        elif not held_rows:
            state = "live, issued to nobody (the code exchange's answer was an error)"
        elif held_rows[0] is not live[0]:
            state = "half-rotated: the client holds a used token"
        else:
            state = "live, held by its client"
        states[state] += 1
        if state.startswith("half-rotated"):
            family = holder.get(held_rows[0].token_hash) if held_rows else None
            problems.append(f"family {family_id[:8]}… {state} ({len(tokens)} tokens; client's last answers: "
                            f"{family.history if family else 'none'})")
    return states, problems


EXCEPTION_LINE = re.compile(r"[\w.]+(Error|Exception|Shutdown): ")


def server_log_problems(logs: list[Path]) -> list[str]:
    """What the instances logged that a client must never meet: an exception that escaped the app
    (gunicorn then answers its bare 500), the app's own 500, a worker killed for hanging.  Each with
    the exception that ended its traceback."""
    marks = ("Error handling request", "unhandled error", "WORKER TIMEOUT")
    found = []
    for log in logs:
        lines = log.read_text(errors="replace").splitlines()
        for n, line in enumerate(lines):
            if any(mark in line for mark in marks):
                raised = next((later for later in lines[n + 1:n + 200] if EXCEPTION_LINE.match(later)), "")
                found.append(f"{log.name}:{n + 1}: {line[:120]} -> {raised[:200]}")
    return found


# --- The report -------------------------------------------------------------------------------------


def table(rows: list[list], header: list[str]) -> str:
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[n]) for row in cells) for n in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join([lines[0], "  ".join("-" * width for width in widths), *lines[1:]])


def summary_text(report: dict) -> str:
    parts = [f"Soak: {report['seconds']:.0f} s of load, {report['threads']} threads, "
             f"{report['requests']['total']} requests, whole test {report['elapsed']:.0f} s (before clean-up)"]
    parts.append(table([[step, value] for step, value in report["timing"].items()], ["timing", "s"]))
    parts.append(table([[kind, *[counts.get(name, 0) for name in ("total", "ok")],
                         ", ".join(f"{outcome} ×{n}" for outcome, n in sorted(counts.items())
                                   if outcome not in ("total", "ok")) or "-"]
                        for kind, counts in report["requests"]["by_kind"].items()],
                       ["requests (load)", "total", "ok", "errors"]))
    parts.append(table([[f"{fault['at']:.1f}", f"{fault['healed']:.1f}", fault["name"], fault["detail"]]
                        for fault in report["faults"]], ["at (s)", "healed", "fault", "detail"]))
    parts.append(table([[name, value] for name, value in report["mails"].items()], ["mails", ""]))
    parts.append(table([[name, value] for name, value in report["refresh_families"].items()],
                       ["refresh families", ""]))
    parts.append(table([[name, value] for name, value in report["errors_by_kind"].items()] or [["none", 0]],
                       ["errors seen by clients (load)", ""]))
    parts.append(table([[fault, what, n] for fault, counts in report["errors_by_fault"].items()
                        for what, n in counts.items()] or [["none", "", 0]],
                       ["errors during", "request: outcome", "count"]))
    parts.append(table([[name, value] for name, value in report["sign_ins"].items()], ["sign-ins", ""]))
    if report["problems"]:
        parts.append("PROBLEMS:\n" + "\n".join(f"  - {problem}" for problem in report["problems"]))
    return "\n\n".join(parts)
