"""Answer time of "Mot de passe oublié" for existing vs unknown accounts (not a test: it prints a table).

The neutral page of POST ``/recovery/password`` must not tell, by its timing, whether an
account matches: the lookup, the one-time link and the mail happen in a job, off the
request path. This measures it as an attacker would, from outside.

It starts a private redis-server, an SMTP sink (aiosmtpd, in this process), gunicorn
(``IDP_ENV=production``, ``IDP_SMTP_URL`` pointing at the sink) and the real
``idp mail worker``, all on loopback ports, on a fresh SQLite instance (or
``--database-url``) seeded with ``--users`` citizens. Then, from a thread pool, each
request is a fresh browser (``requests.Session``) that GETs the form and POSTs
``{csrf_token, login}``; only the POST is timed. Known logins (the identifier or the
e-mail of a seeded citizen) and unknown ones (same shape and length, no account) are
interleaved at random. The rate limits are set very high so throttling does not
interfere. At the end it waits for the worker to drain and counts the mails the sink
received: one per known request.

    .venv/bin/python bench/recovery_timing.py --requests 500 --concurrency 4
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, wait_for  # noqa: E402
from idp import db as idp_db  # noqa: E402
from idp.passwords import hash_password  # noqa: E402
from idp.redis_store import redis_binary  # noqa: E402
from idp.users import create  # noqa: E402

PASSWORD = "a long enough benchmark passphrase"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
TIMEOUT = 30
UNLIMITED = "100000/minute"
KINDS = ("known", "unknown")


class MailSink:
    """A real SMTP server on loopback that counts what it receives."""

    def __init__(self, port: int):
        self.port = port
        self.count = 0
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
        return "250 OK"




def username(n: int) -> str:
    return f"citoyen.{n:06d}"


def address(n: int) -> str:
    return f"citoyen.{n:06d}@example.fr"


def seed(database_url: str, users: int) -> None:
    """Create the schema and ``users`` citizens (one argon2id hash shared by all: seeding stays fast)."""
    from sqlalchemy.orm import Session

    idp_db.upgrade(database_url)
    engine = idp_db.make_engine(database_url)
    password_hash = hash_password(PASSWORD)
    with Session(engine) as db:
        for n in range(users):
            user = create(db, username=username(n), email=address(n), given_name="Bench", family_name=str(n))
            user.password_hash = password_hash
        db.commit()
    engine.dispose()


def logins(count: int, users: int, rng: random.Random) -> list[tuple[str, str]]:
    """``count`` known and ``count`` unknown logins, shuffled; half identifiers, half e-mail addresses."""
    unknown_numbers = rng.sample(range(users, 1_000_000), count)  # same shape and length, no account
    plan = []
    for i in range(count):
        form = address if i % 2 else username
        plan.append(("known", form(rng.randrange(users))))
        plan.append(("unknown", form(unknown_numbers[i])))
    rng.shuffle(plan)
    return plan


def ask(base: str, kind: str, login: str) -> tuple[str, float, int]:
    """A fresh browser asks for a reset link; returns (kind, seconds of the POST, status)."""
    browser = requests.Session()
    page = browser.get(f"{base}/recovery/password", timeout=TIMEOUT)
    page.raise_for_status()
    token = CSRF.search(page.text)[1]
    start = time.perf_counter()
    answer = browser.post(f"{base}/recovery/password", data={"csrf_token": token, "login": login},
                          allow_redirects=False, timeout=TIMEOUT)
    return kind, time.perf_counter() - start, answer.status_code


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def mann_whitney(a: list[float], b: list[float]) -> tuple[float, float]:
    """U statistic of ``a`` and the two-sided p-value (normal approximation, average ranks for ties)."""
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(pooled)
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
    n1, n2 = len(a), len(b)
    u = rank_sum - n1 * (n1 + 1) / 2
    z = (u - n1 * n2 / 2) / math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    return u, math.erfc(abs(z) / math.sqrt(2))


def table(samples: dict[str, list[float]]) -> str:
    rows = ["| login | n | p50 ms | p90 ms | p99 ms | mean ms | max ms |", "|---|---:|---:|---:|---:|---:|---:|"]
    for kind in KINDS:
        ordered = sorted(samples[kind])
        rows.append(f"| {kind} | {len(ordered)} | {statistics.median(ordered) * 1000:.1f} "
                    f"| {percentile(ordered, 0.90) * 1000:.1f} | {percentile(ordered, 0.99) * 1000:.1f} "
                    f"| {statistics.fmean(ordered) * 1000:.1f} | {ordered[-1] * 1000:.1f} |")
    return "\n".join(rows)


def drain(store: redis.Redis, sink: MailSink, expected: int, worker: subprocess.Popen, seconds: float) -> float:
    """Wait until the job queue is empty and ``expected`` mails arrived (or ``seconds`` pass); return the wait."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if worker.poll() is not None:
            raise RuntimeError(f"idp mail worker exited with status {worker.returncode}")
        if store.zcard("idp:jobs:{jobs}") == 0 and sink.count >= expected:  # the default IDP_REDIS_PREFIX
            break
        time.sleep(0.2)
    time.sleep(1)  # a mail more than expected would show now
    return time.monotonic() - start


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def arguments(description: str, requests: int, concurrency: int) -> argparse.ArgumentParser:
    """The options every timing benchmark takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--requests", type=int, default=requests, help="requests of each kind (known, unknown)")
    parser.add_argument("--concurrency", type=int, default=concurrency)
    parser.add_argument("--users", type=int, default=1000, help="citizens seeded")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests of each kind first")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the plan of logins")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    return parser


def start_provider(args, folder: Path, database_url: str, port: int, processes: list[subprocess.Popen],
                   **settings: str) -> dict[str, str]:
    """A private redis-server, ``--users`` citizens seeded, and gunicorn in production with ``settings``
    (``IDP_`` names) on ``port``; appended to ``processes``.  The environment the provider runs in."""
    redis_port = free_port()
    processes.append(subprocess.Popen([shutil.which("redis-server") or redis_binary(), "--port", str(redis_port),
                                       "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL))
    seed(database_url, args.users)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_ENV="production", IDP_INSTANCE_DIR=str(folder / "instance"), IDP_DATABASE_URL=database_url,
               IDP_ISSUER=f"http://127.0.0.1:{port}", IDP_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", **settings)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    processes.append(subprocess.Popen([str(gunicorn), "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
                                       "--pythonpath", str(ROOT), "idp:create_app()"], env=env, cwd=folder,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_for(f"http://127.0.0.1:{port}/readyz")
    return env


def verdict(samples: dict[str, list[float]]) -> str:
    """The table, the difference of the medians and the Mann-Whitney test."""
    known, unknown = sorted(samples["known"]), sorted(samples["unknown"])
    difference = statistics.median(known) - statistics.median(unknown)
    u, p = mann_whitney(known, unknown)
    return (f"{table(samples)}\n\nmedian known − median unknown: {difference * 1000:+.2f} ms; "
            f"Mann-Whitney U = {u:.0f}, two-sided p = {p:.3f} (below 0.05: time depends on the account)")


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], requests=500, concurrency=4)
    parser.add_argument("--drain-timeout", type=float, default=300, help="seconds to wait for the mails")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    folder = Path(tempfile.mkdtemp(prefix="sesame-bench-"))
    port, smtp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    database_url = args.database_url or f"sqlite:///{folder / 'idp.sqlite3'}"
    processes: list[subprocess.Popen] = []
    sink = MailSink(smtp_port)
    sink.controller.start()
    try:
        env = start_provider(args, folder, database_url, port, processes, IDP_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
                             IDP_RECOVERY_RATE_LIMIT=UNLIMITED, IDP_RECOVERY_ACCOUNT_RATE_LIMIT=UNLIMITED)
        # Started once gunicorn has written the instance folder (secret key, signing keys).
        processes.append(subprocess.Popen([str(Path(sys.executable).with_name("idp")), "mail", "worker"], env=env,
                                          cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        statuses: dict[int, int] = {}
        known_asked = 0
        with ThreadPoolExecutor(args.concurrency) as pool:
            for kind, _, status in pool.map(lambda p: ask(base, *p), logins(args.warmup, args.users, rng)):
                known_asked += kind == "known" and status == 200
            samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
            started = time.perf_counter()
            for kind, seconds, status in pool.map(lambda p: ask(base, *p), logins(args.requests, args.users, rng)):
                statuses[status] = statuses.get(status, 0) + 1
                known_asked += kind == "known" and status == 200
                samples[kind].append(seconds)
            wall = time.perf_counter() - started
        waited = drain(redis.Redis.from_url(env["IDP_REDIS_URL"]), sink, known_asked, processes[-1], args.drain_timeout)

        print(f"POST /recovery/password under gunicorn -w {args.workers} (IDP_ENV=production, SMTP sink, "
              f"`idp mail worker`), {args.concurrency} concurrent clients, {args.users} citizens, "
              f"{'SQLite' if database_url.startswith('sqlite') else 'PostgreSQL'}, {os.cpu_count()} cores; "
              f"{2 * args.requests} timed POSTs in {wall:.1f} s\n")
        print(verdict(samples))
        print(f"answers: {', '.join(f'{n} × {status}' for status, n in sorted(statuses.items()))}")
        print(f"mails received by the sink: {sink.count} for {known_asked} known requests "
              f"(warm-up included; all sent {waited:.1f} s after the last answer)")
    finally:
        for process in reversed(processes):
            stop(process)
        sink.controller.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
