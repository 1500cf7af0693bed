"""Baseline load benchmark of the provider under gunicorn (not a test: it prints a table).

It starts a private redis-server and gunicorn on loopback ports, on a fresh SQLite
instance (or ``--database-url``), then drives, from a thread pool:
- ``client_credentials`` token requests (signing cost, client authentication);
- full code flows as a citizen's browser and a relying party would run them
  (authorize → login page → login POST → code → token → userinfo), each step timed.

    .venv/bin/python bench/oidc_flow.py --workers 2 --flows 100 --tokens 400 --concurrency 8
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, wait_for  # noqa: E402
from idp import db as idp_db  # noqa: E402
from idp.clients import register  # noqa: E402
from idp.redis_store import redis_binary  # noqa: E402
from idp.users import create  # noqa: E402

PASSWORD = "a long enough benchmark passphrase"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the Location header is read
TIMEOUT = 30




def seed(database_url: str, users: int) -> tuple[tuple[str, str], tuple[str, str]]:
    """Create the schema, `users` citizens and two clients; return (code client, cc client) credentials."""
    from sqlalchemy.orm import Session

    idp_db.upgrade(database_url)
    engine = idp_db.make_engine(database_url)
    with Session(engine) as db:
        for n in range(users):
            create(db, username=f"bench{n}", email=f"bench{n}@example.fr", given_name="Bench", family_name=str(n),
                   password=PASSWORD)
        db.commit()
        code_client, code_secret = register(db, name="bench", redirect_uris=[REDIRECT_URI])
        cc_client, cc_secret = register(db, name="bench-cc", grant_types=["client_credentials"])
        ids = (code_client.client_id, code_secret), (cc_client.client_id, cc_secret)
    engine.dispose()
    return ids


def code_flow(base: str, n: int, client: tuple[str, str]) -> dict[str, float]:
    """One citizen's sign-in through a fresh browser; returns each step's seconds."""
    client_id, secret = client
    browser, timings = requests.Session(), {}
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "scope": "openid email",
              "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"}

    def step(name, call):
        start = time.perf_counter()
        response = call()
        timings[name] = time.perf_counter() - start
        return response

    start = step("authorize", lambda: browser.get(f"{base}/oauth/authorize?{urlencode(params)}",
                                                  allow_redirects=False, timeout=TIMEOUT))
    page = step("login page", lambda: browser.get(base + start.headers["Location"], timeout=TIMEOUT))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)[1]
    rid = re.search(r'name="rid" type="hidden" value="([^"]*)"', page.text)[1]
    posted = step("login POST (argon2id)", lambda: browser.post(f"{base}/login", allow_redirects=False, data={
        "csrf_token": token, "rid": rid, "username": f"bench{n}", "password": PASSWORD}, timeout=TIMEOUT))
    back = step("authorize → code", lambda: browser.get(base + posted.headers["Location"], allow_redirects=False,
                                                         timeout=TIMEOUT))
    code = parse_qs(urlparse(back.headers["Location"]).query)["code"][0]
    tokens = step("token (code + PKCE)", lambda: requests.post(f"{base}/oauth/token", auth=(client_id, secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
        timeout=TIMEOUT))
    access = tokens.json()["access_token"]
    step("userinfo", lambda: requests.get(f"{base}/oauth/userinfo", headers={"Authorization": f"Bearer {access}"},
                                          timeout=TIMEOUT))
    return timings


def client_credentials(base: str, client: tuple[str, str]) -> dict[str, float]:
    start = time.perf_counter()
    response = requests.post(f"{base}/oauth/token", auth=client, data={"grant_type": "client_credentials"},
                             timeout=TIMEOUT)
    response.raise_for_status()
    return {"token (client_credentials)": time.perf_counter() - start}


def table(samples: dict[str, list[float]], wall: dict[str, float]) -> str:
    rows = ["| step | n | p50 ms | p99 ms | max ms | per second |", "|---|---:|---:|---:|---:|---:|"]
    for name, values in samples.items():
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        rate = f"{len(values) / wall[name]:.0f}" if name in wall else "–"
        rows.append(f"| {name} | {len(values)} | {statistics.median(values) * 1000:.1f} | {p99 * 1000:.1f} "
                    f"| {ordered[-1] * 1000:.1f} | {rate} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--flows", type=int, default=100, help="full code flows (each a new citizen)")
    parser.add_argument("--tokens", type=int, default=400, help="client_credentials requests")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="sesame-bench-"))
    redis_port, port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    database_url = args.database_url or f"sqlite:///{folder / 'idp.sqlite3'}"
    processes = [subprocess.Popen([shutil.which("redis-server") or redis_binary(), "--port", str(redis_port),
                                   "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                  stdout=subprocess.DEVNULL)]
    try:
        code_client, cc_client = seed(database_url, args.flows)
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        env.update(IDP_INSTANCE_DIR=str(folder / "instance"), IDP_DATABASE_URL=database_url, IDP_ISSUER=base,
                   IDP_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", IDP_LOGIN_RATE_LIMIT="100000/minute",
                   IDP_SMTP_URL="smtp://127.0.0.1:9")  # production needs one; these flows send no mail
        gunicorn = Path(sys.executable).with_name("gunicorn")
        processes.append(subprocess.Popen([str(gunicorn), "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
                                           "idp:create_app()"], env=env, cwd=folder,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(f"{base}/readyz")
        samples: dict[str, list[float]] = defaultdict(list)
        wall: dict[str, float] = {}
        with ThreadPoolExecutor(args.concurrency) as pool:
            started = time.perf_counter()
            for result in pool.map(lambda _: client_credentials(base, cc_client), range(args.tokens)):
                for name, seconds in result.items():
                    samples[name].append(seconds)
            wall["token (client_credentials)"] = time.perf_counter() - started
            started = time.perf_counter()
            for result in pool.map(lambda n: code_flow(base, n, code_client), range(args.flows)):
                for name, seconds in result.items():
                    samples[name].append(seconds)
            wall["full code flow"] = time.perf_counter() - started
        samples["full code flow"] = [sum(v[i] for k, v in samples.items() if k in FLOW_STEPS)
                                     for i in range(args.flows)]
        print(f"Sésame under gunicorn -w {args.workers}, {args.concurrency} concurrent clients, "
              f"{'SQLite' if database_url.startswith('sqlite') else 'PostgreSQL'}, {os.cpu_count()} cores\n")
        print(table(samples, wall))
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


FLOW_STEPS = ("authorize", "login page", "login POST (argon2id)", "authorize → code", "token (code + PKCE)",
              "userinfo")

if __name__ == "__main__":
    main()
