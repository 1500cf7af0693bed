"""Sésame as ``python -m bench`` runs it: a private redis-server, a fresh database, an SMTP sink,
seeded clients, citizens and refresh tokens, and ``idp serve --production`` on loopback.

:class:`Stack` owns every process and folder it creates; ``close()`` (also reached on Ctrl-C
through the caller's ``finally``) stops them and removes the folder.  It never touches a Redis
or a database it did not create.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import requests
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench import accounts_at_scale, recovery_timing
from bench.common import free_port, wait_for
from bench.recovery_timing import MailSink
from idp import db as idp_db
from idp.clients import register
from idp.models import RefreshToken, User
from idp.oidc.grants import new_family_id
from idp.oidc.tokens import sha256
from idp.redis_store import redis_binary

ROOT = Path(__file__).resolve().parent.parent
UNLIMITED = "1000000/minute"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the Location header is read
PASSWORD = recovery_timing.PASSWORD  # every seeded citizen's (one shared argon2id hash)
REFRESH_SCOPE = "profile email"  # no openid: a refresh then signs no ID token (the peer is seeded alike)
USERINFO_SCOPE = "openid profile email"
SETTINGS = {  # rate limits out of the way: the bench is one address hammering
    "IDP_LOGIN_RATE_LIMIT": UNLIMITED, "IDP_LOGIN_ACCOUNT_RATE_LIMIT": UNLIMITED, "IDP_LOGIN_FREE_FAILURES": "1000000",
    "IDP_AUTHORIZE_RATE_LIMIT": UNLIMITED, "IDP_RECOVERY_RATE_LIMIT": UNLIMITED,
    "IDP_RECOVERY_ACCOUNT_RATE_LIMIT": UNLIMITED, "IDP_SIGNUP_RATE_LIMIT": UNLIMITED,
    "IDP_SIGNUP_HINT_RATE_LIMIT": UNLIMITED, "IDP_SIGNUP_HINT_PERSON_RATE_LIMIT": UNLIMITED,
    "IDP_SIGNUP_TAKEN_RATE_LIMIT": UNLIMITED,
}


@dataclass
class Client:
    client_id: str
    secret: str


def database_server(option: str | None) -> str | None:
    """The PostgreSQL server to use (``--database-url``, else ``IDP_TEST_DATABASE_URL``), or None for SQLite."""
    url = option or os.environ.get("IDP_TEST_DATABASE_URL")
    if not url:
        return None
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise SystemExit(f"--database-url: a PostgreSQL server, not {parsed.drivername}")
    # The server only: the bench makes a database of its own there (``set(database=None)`` keeps the name).
    server = parsed._replace(database=None)
    return server.render_as_string(hide_password=False)


def describe_database(url: str) -> str:
    if url.startswith("sqlite"):
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version} (a fresh file)"
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return "PostgreSQL " + connection.exec_driver_sql("SHOW server_version").scalar().split()[0] + \
                f" (database {make_url(url).database}, dropped at the end)"
    finally:
        engine.dispose()


class Stack:
    def __init__(self, *, workers: int, citizens: int, accounts: int, refresh_pool: int, userinfo_pool: int,
                 database_server_url: str | None, seed: int | None = None):
        self.workers = workers
        self.citizens = citizens
        self.accounts = accounts
        self.refresh_pool = refresh_pool
        self.userinfo_pool = userinfo_pool
        self.server_url = database_server_url
        self.rng = random.Random(seed)
        self.folder = Path(tempfile.mkdtemp(prefix="sesame-bench-"))
        self.processes: list[subprocess.Popen] = []
        self.sink: MailSink | None = None
        self.database_url: str | None = None
        self.created_database = False
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.redis_port = free_port()
        self.redis: redis.Redis | None = None
        self.prefix = "idp:"  # the default IDP_REDIS_PREFIX
        self.people: list[dict] = []  # sampled bulk accounts, for the sign-up scenario
        self.seed_seconds = 0.0

    # --- start ------------------------------------------------------------------------------------------------

    def start(self, log) -> None:
        log("redis-server, database, seeding …")
        self._redis()
        if self.server_url:
            self.database_url = accounts_at_scale.create_database(self.server_url)
            self.created_database = True
        else:
            self.database_url = f"sqlite:///{self.folder / 'idp.sqlite3'}"
        started = time.perf_counter()
        self._seed(log)
        self.seed_seconds = time.perf_counter() - started
        self.sink = MailSink(free_port())
        self.sink.controller.start()
        log(f"idp serve --production --workers {self.workers} on {self.base} …")
        self._provider()

    def _redis(self) -> None:
        binary = shutil.which("redis-server") or redis_binary()
        self.redis_binary = binary
        self.processes.append(subprocess.Popen(
            [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.redis = redis.Redis(port=self.redis_port)
        for _ in range(200):
            try:
                self.redis.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def _seed(self, log) -> None:
        # citoyen.000000… with one shared hash of PASSWORD (creates the schema too)
        recovery_timing.seed(self.database_url, self.citizens)
        engine = idp_db.make_engine(self.database_url)
        try:
            if self.accounts:
                log(f"seeding {self.accounts:,} more accounts (bench/accounts_at_scale.py) …")
                accounts_at_scale.seed(engine, self.accounts, 20_000, self.rng)
                self.people = [person for person in accounts_at_scale.samples(engine, 300, self.rng)
                               if person["birthdate"] is not None]  # not the citoyen.* citizens
            with Session(engine) as db:
                code, code_secret = register(db, name="bench", redirect_uris=[REDIRECT_URI])
                cc, cc_secret = register(db, name="bench-cc", grant_types=["client_credentials"])
                self.code_client = Client(code.client_id, code_secret)
                self.cc_client = Client(cc.client_id, cc_secret)
                es, es_secret = register(db, name="bench-cc-es256", grant_types=["client_credentials"],
                                         access_token_alg="ES256")  # noqa: S106 - an algorithm
                self.cc_es256_client = Client(es.client_id, es_secret)
                # Citizens 0 … half-1 sign in and hold refresh tokens; the other half have their password reset.
                half = max(1, self.citizens // 2)
                user_ids = list(db.scalars(select(User.id).where(User.username.like("citoyen.%"))
                                           .order_by(User.id).limit(half)))
                self.refresh_tokens = self._refresh_tokens(db, user_ids, self.refresh_pool, REFRESH_SCOPE)
                self.userinfo_refresh_tokens = self._refresh_tokens(db, user_ids, self.userinfo_pool, USERINFO_SCOPE)
                self.reset_users = list(db.scalars(select(User.id).where(User.username.like("citoyen.%"))
                                                   .order_by(User.id).offset(half)))
                db.commit()
        finally:
            engine.dispose()

    def _refresh_tokens(self, db: Session, user_ids: list[int], count: int, scope: str) -> list[str]:
        """Rows as ``idp/oidc/server.py::_store_refresh_token`` writes them after a sign-in: one family
        per token, the hash of the token, the login's time and sid.  Returns the tokens."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        expires = now + dt.timedelta(days=30)
        tokens = []
        for n in range(count):
            token = secrets.token_urlsafe(32)
            db.add(RefreshToken(token_hash=sha256(token), family_id=new_family_id(),
                                client_id=self.code_client.client_id, user_id=user_ids[n % len(user_ids)],
                                scope=scope, auth_time=int(time.time()), sid=secrets.token_urlsafe(32),
                                issued_at=now, expires_at=expires))
            tokens.append(token)
        return tokens

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        env.update(SETTINGS, IDP_ENV="production", IDP_INSTANCE_DIR=str(self.folder / "instance"),
                   IDP_DATABASE_URL=self.database_url, IDP_ISSUER=self.base,
                   IDP_REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
                   IDP_SMTP_URL=f"smtp://127.0.0.1:{self.sink.port}", PYTHONPATH=str(ROOT))
        return env

    def _provider(self) -> None:
        # `python -m idp.cli` does nothing (no __main__ guard); the venv's `idp` script with
        # PYTHONPATH = this checkout runs this checkout's code, from a worktree too.
        script = Path(sys.executable).with_name("idp")
        command = [str(script)] if script.exists() else [sys.executable, "-c", "from idp.cli import main; main()"]
        command += ["serve", "--production", "--workers", str(self.workers), "--host", "127.0.0.1",
                    "--port", str(self.port)]
        self.server_log = self.folder / "server.log"
        with open(self.server_log, "wb") as log:
            self.server = subprocess.Popen(command, env=self.environment(), cwd=ROOT, stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(self.server)
        try:
            wait_for(f"{self.base}/readyz", 90)
        except RuntimeError:
            raise RuntimeError(f"idp serve did not answer:\n{self.server_log.read_text(errors='replace')[-2000:]}") \
                from None

    # --- what scenarios need -----------------------------------------------------------------------------------

    def access_tokens(self, client: Client, count: int) -> list[str]:
        """``count`` access tokens of ``client`` from client_credentials requests."""
        with requests.Session() as http:
            return [http.post(f"{self.base}/oauth/token", auth=(client.client_id, client.secret),
                              data={"grant_type": "client_credentials"}, timeout=30).json()["access_token"]
                    for _ in range(count)]

    def user_access_tokens(self) -> list[str]:
        """Refresh the userinfo pool once each over HTTP: user access tokens (scope openid profile email)."""
        tokens = []
        with requests.Session() as http:
            for refresh_token in self.userinfo_refresh_tokens:
                answer = http.post(f"{self.base}/oauth/token", auth=(self.code_client.client_id,
                                                                     self.code_client.secret),
                                   data={"grant_type": "refresh_token", "refresh_token": refresh_token}, timeout=30)
                answer.raise_for_status()
                tokens.append(answer.json()["access_token"])
        self.userinfo_refresh_tokens = []  # used up
        return tokens

    def worker_pids(self) -> list[int]:
        """The Granian worker processes: the children of ``idp serve``."""
        return descendants(self.server.pid)

    # --- stop --------------------------------------------------------------------------------------------------

    def close(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                try:
                    if process is getattr(self, "server", None):
                        os.killpg(process.pid, signal.SIGTERM)  # its own group: Granian and its workers
                    else:
                        process.terminate()
                    process.wait(20)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    if process is getattr(self, "server", None):
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(process.pid, signal.SIGKILL)
                    process.kill()
                    process.wait(10)
        if self.sink is not None:
            with contextlib.suppress(Exception):  # a sink that never started has nothing to stop
                self.sink.controller.stop()
        if self.created_database:
            accounts_at_scale.drop_database(self.database_url)
        shutil.rmtree(self.folder, ignore_errors=True)


def descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            children = []
        for child in map(int, children):
            found.append(child)
            frontier.append(child)
    return found


def vm_rss(pid: int) -> int | None:
    """Resident memory of a process, bytes (VmRSS of /proc/<pid>/status)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
