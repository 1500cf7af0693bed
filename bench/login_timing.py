"""Answer time of a failed sign-in for existing vs unknown accounts (not a test: it prints a table).

A wrong password for an existing account and any password for an unknown identifier must
take the same time, or the login form tells which accounts exist: both check a password
with argon2id (the dummy hash when no account matches). This measures it as an attacker
would, from outside.

It starts a private redis-server and gunicorn (``IDP_ENV=production``) on loopback ports,
on a fresh SQLite instance (or ``--database-url``) seeded with ``--users`` citizens. Then,
from a thread pool, each request is a fresh browser (``requests.Session``) that GETs
``/login`` and POSTs ``{csrf_token, username, password}`` with a wrong password; only the
POST is timed. Known identifiers (the identifier or the e-mail of a seeded citizen) and
unknown ones (same shape and length, no account) are interleaved at random, with the
seeding, the plan, the table and the Mann-Whitney test of ``recovery_timing.py``. Every
answer must be the 401 of a failed sign-in; the throttles are set out of the way.

    .venv/bin/python bench/login_timing.py --requests 300 --concurrency 2
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: `bench` is importable

from bench.common import free_port
from bench.recovery_timing import (
    CSRF,
    KINDS,
    TIMEOUT,
    UNLIMITED,
    arguments,
    logins,
    start_provider,
    stop,
    verdict,
)

WRONG_PASSWORD = "not the benchmark passphrase at all"


def try_password(base: str, kind: str, login: str) -> tuple[str, float, int]:
    """A fresh browser signs in with a wrong password; returns (kind, seconds of the POST, status)."""
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=TIMEOUT)
    page.raise_for_status()
    token = CSRF.search(page.text)[1]
    start = time.perf_counter()
    answer = browser.post(f"{base}/login", data={"csrf_token": token, "username": login, "password": WRONG_PASSWORD},
                          allow_redirects=False, timeout=TIMEOUT)
    return kind, time.perf_counter() - start, answer.status_code


def measure(pool: ThreadPoolExecutor, base: str, plan: list[tuple[str, str]]) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for kind, seconds, status in pool.map(lambda p: try_password(base, *p), plan):
        if status != 401:
            raise RuntimeError(f"a failed sign-in answered {status}, not 401: the numbers would not compare")
        samples[kind].append(seconds)
    return samples


def main() -> None:
    args = arguments(__doc__.splitlines()[0], requests=300, concurrency=2).parse_args()
    rng = random.Random(args.seed)

    folder = Path(tempfile.mkdtemp(prefix="sesame-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database_url = args.database_url or f"sqlite:///{folder / 'idp.sqlite3'}"
    processes: list[subprocess.Popen] = []
    try:
        start_provider(args, folder, database_url, port, processes,
                       IDP_SMTP_URL=f"smtp://127.0.0.1:{free_port()}",  # production wants one; a sign-in mails nothing
                       IDP_LOGIN_RATE_LIMIT=UNLIMITED, IDP_LOGIN_ACCOUNT_RATE_LIMIT=UNLIMITED,
                       IDP_LOGIN_FREE_FAILURES="1000000")
        with ThreadPoolExecutor(args.concurrency) as pool:
            measure(pool, base, logins(args.warmup, args.users, rng))
            started = time.perf_counter()
            samples = measure(pool, base, logins(args.requests, args.users, rng))
            wall = time.perf_counter() - started

        print(f"POST /login with a wrong password under gunicorn -w {args.workers} (IDP_ENV=production), "
              f"{args.concurrency} concurrent clients, {args.users} citizens, "
              f"{'SQLite' if database_url.startswith('sqlite') else 'PostgreSQL'}, {os.cpu_count()} cores; "
              f"{2 * args.requests} timed POSTs in {wall:.1f} s, every one answered 401\n")
        print(verdict(samples))
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
