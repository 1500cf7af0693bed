"""Account lookups and sign-up with a million citizens (not a test: it prints Markdown tables).

Issue 4 asks that duplicate detection and identifier/e-mail lookups stay fast with
millions of accounts, because they use indexed, normalised columns (migration 0002:
``ix_users_identity`` on the folded names and the birth date; the unique
``username_key`` and ``email_key``). This measures it:

1. a fresh database (a SQLite file by default; with ``--database-url`` a dedicated
   PostgreSQL database ``sesame_bench_<random>``, dropped at the end), migrated with
   ``idp.db.upgrade``;
2. ``--accounts`` citizens inserted through SQLAlchemy Core in batches (indexes in
   place, as in production): French given and family names drawn with a skew (accents,
   hyphens, apostrophes, particles), birth dates spread over 80 years, numbered
   identifiers and addresses so all are unique, the folded columns computed as the
   product computes them. Every row gets ONE shared argon2id hash: hashing a million
   passwords at OWASP parameters would take hours and measures nothing here;
3. in-process lookups with the ORM and a real session each (hits and misses, names
   and logins typed the way citizens type them), one query that cannot use the index
   for contrast (the raw name columns), and the query plans;
4. gunicorn (``IDP_ENV=production``, an aiosmtpd sink in this process, the real
   ``idp mail worker``, a private redis-server, rate limits set very high) on the seeded
   database; POST ``/signup`` for new people, people who already have an account (the
   masked hint) and addresses already in use, shuffled, each from a fresh browser that
   GETs the form for its CSRF token first; only the POST is timed.

    .venv/bin/python bench/accounts_at_scale.py --accounts 1000000
    .venv/bin/python bench/accounts_at_scale.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, wait_for  # noqa: E402
from bench.recovery_timing import MailSink, drain, mann_whitney, percentile, stop  # noqa: E402
from idp import db as idp_db  # noqa: E402
from idp.config import BY_NAME  # noqa: E402
from idp.identity import name_key  # noqa: E402
from idp.models import User, utcnow  # noqa: E402
from idp.passwords import hash_password  # noqa: E402
from idp.redis_store import redis_binary  # noqa: E402
from idp.users import email_key, find_by_email, find_by_login, find_same_person, username_key  # noqa: E402

PASSWORD = "une phrase assez longue pour le banc"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
TIMEOUT = 60
UNLIMITED = "100000/minute"
BIRTH_START, BIRTH_DAYS = dt.date(1926, 1, 1), 80 * 365 + 20  # born 1926-2005
SIGNUP_KINDS = ("new person", "existing person (hint)", "address in use")



def names(text: str) -> list[str]:
    """A list written as words; ``_`` stands for a space inside a name (``Le_Goff``)."""
    return [word.replace("_", " ") for word in text.split()]


GIVEN_NAMES = names("""Jean Marie Pierre Michel André Philippe Nathalie Isabelle Sylvie Catherine Françoise Jacques
Christophe Stéphane Sébastien Frédéric Laurent Éric Hélène Céline Valérie Sandrine Véronique Christine Monique
Nicole Thierry Patrick Nicolas Julien Olivier David Alain Bernard Daniel Camille Léa Manon Chloé Emma Inès Jade
Louise Zoé Léna Anaïs Océane Maëlle Noémie Clémence Élodie Émilie Aurélie Mélanie Gaëlle Joël Raphaël Gaël Noël
Lucas Hugo Théo Louis Mathis Nathan Enzo Maxime Antoine Thomas Alexandre Quentin Clément Jérôme Benoît François
Grégoire Mathéo Timothée Loïc Yannick Hervé Rémi Jean-Pierre Jean-Luc Jean-François Jean-Claude Jean-Michel
Marie-Hélène Marie-Claire Marie-Thérèse Anne-Sophie Anne-Laure Pierre-Yves Marc-Antoine Paul-Émile Lou-Anne Maël
Aïcha Fatoumata Mohamed Yasmine Karim Nadia Mehdi Sofiane Amélie Agnès Bérénice Cécile Adèle Zoë Anaëlle Héloïse
Margaux Solène Ophélie Gisèle Josiane Ginette Yvette Kévin Jérémy Ludovic Gwenaëlle Soizic Maïwenn""")
FAMILY_NAMES = names("""Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel Lefèvre
Leroy
Roux David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine Rousseau Vincent Muller Lefebvre Faure
André Mercier Blanc Guérin Boyer Garnier Chevalier François Legrand Gauthier Garcia Perrin Robin Clément Morin
Nicolas Henry Roussel Mathieu Gautier Masson Marchand Duval Denis Dumont Marie Lemaire Noël Meyer Dufour Meunier
Brun Blanchard Giraud Joly Rivière Lucas Brunet Gaillard Barbier Arnaud Martinez Gérard Roche Renard Schmitt Roy
Leroux Colin Vidal Caron Picard Roger Fabre Aubert Lemoine Renaud Dumas Lacroix Olivier Philippe Bourgeois Pierre
Benoît Rey Leclerc Payet Rolland Leclercq Guillaume Lecomte López Jean Dupuy Guillot Hubert Berger Carpentier
Sánchez Dupuis Moulin Louis Deschamps Huet Vasseur Perez Boucher Fleury Royer Klein Jacquet Adam Paris Poirier
Marty Aubry Guyot Carré Charles Renault Charpentier Ménard Maillard Baron Bertin Bailly Hervé Schneider Fernandez
Le_Gall Collet Léger Bouvier Julien Prévost Millet Perrot Daniel Le_Roux Cousin Germain Breton Besson Langlois
Rémy Le_Goff Pelletier Lévêque Perrier Leblanc Barré Lebrun Marchal Weber Mallet Hamon Boulanger Jacob Monnier
Michaud Rodriguez Guichard Gillet Étienne Grondin Poulain Tessier Chevallier Collin Chauvin Da_Silva Bouchet
Gay Lemaître Bénard Maréchal Humbert Reynaud Antoine Hoarau Perret Barthélemy Cordier Pichon Lejeune Gilbert
Lamy Delaunay Pasquier Carlier Laporte D'Artagnan N'Diaye D'Almeida de_La_Fontaine Saint-Martin Le_Bihan Diallo
Nguyen Traoré Ben_Ali Dos_Santos Coulibaly Kervella Éloi-Dupré Lê Hoàng Østergaard Çelik""")
DOMAINS = ["orange.fr", "gmail.com", "free.fr", "laposte.net", "sfr.fr", "wanadoo.fr", "hotmail.fr", "yahoo.fr",
           "outlook.fr", "icloud.com", "protonmail.com", "example.fr"]
DOMAIN_WEIGHTS = [22, 25, 12, 8, 7, 6, 6, 5, 4, 2, 1, 2]


def skewed(names: list[str], exponent: float) -> list[float]:
    """Cumulative weights: the first names of a list are more common, as in a real population."""
    return list(itertools.accumulate(1 / (rank + 1) ** exponent for rank in range(len(names))))


GIVEN_CUMULATIVE, FAMILY_CUMULATIVE = skewed(GIVEN_NAMES, 0.6), skewed(FAMILY_NAMES, 0.8)
DOMAIN_CUMULATIVE = list(itertools.accumulate(DOMAIN_WEIGHTS))
KEYS = {name: name_key(name) for name in GIVEN_NAMES + FAMILY_NAMES}
FAMILY_KEYS = {KEYS[name] for name in FAMILY_NAMES}


def login_part(name: str) -> str:
    """A name as it appears in an identifier or an address: folded, and ASCII only, as the form requires."""
    return name_key(name).encode("ascii", "ignore").decode()


LOGIN_PARTS = {name: login_part(name) for name in GIVEN_NAMES + FAMILY_NAMES}


# --- the database ---------------------------------------------------------------------------------------------------

def create_database(server_url: str) -> str:
    """A dedicated, empty PostgreSQL database on that server; returns its URL."""
    url = make_url(server_url)
    if not url.drivername.startswith("postgresql") or url.database:
        raise SystemExit("--database-url: give a PostgreSQL server without a database name, e.g. "
                         "postgresql+psycopg://postgres@127.0.0.1:5432 (the bench makes its own database)")
    name = f"sesame_bench_{secrets.token_hex(4)}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(database_url: str) -> None:
    url = make_url(database_url)
    assert url.database.startswith("sesame_bench_"), url.database  # only ever the one this run created
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    admin.dispose()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def database_size(engine: Engine) -> int:
    if is_sqlite(engine):
        path = Path(engine.url.database)
        return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    with engine.connect() as connection:
        return connection.scalar(select(func.pg_database_size(func.current_database())))


# --- seeding --------------------------------------------------------------------------------------------------------

def accounts(first: int, count: int, rng: random.Random, password_hash: str) -> list[dict]:
    """Rows ``first`` to ``first + count - 1``. Identifiers and addresses end with the row number after a
    letter or a dot, so they are unique, and any number from ``--accounts`` up is free."""
    now = utcnow()
    given = rng.choices(GIVEN_NAMES, cum_weights=GIVEN_CUMULATIVE, k=count)
    family = rng.choices(FAMILY_NAMES, cum_weights=FAMILY_CUMULATIVE, k=count)
    domains = rng.choices(DOMAINS, cum_weights=DOMAIN_CUMULATIVE, k=count)
    rows = []
    for n, first_name, last_name, domain in zip(range(first, first + count), given, family, domains, strict=True):
        g, f = LOGIN_PARTS[first_name], LOGIN_PARTS[last_name]
        shape = rng.random()
        username = f"{g}.{f}{n}" if shape < 0.6 else f"{g[0]}{f}{n}" if shape < 0.85 else f"{f}_{g}{n}"
        local = f"{g}.{f}.{n}" if shape < 0.5 else f"{g}{f}{n}" if shape < 0.9 else f"{g[0]}.{f}{n}"
        if shape < 0.1:  # some citizens typed their address with capitals
            local = ".".join(part.capitalize() for part in local.split("."))
        email = f"{local}@{domain}"
        rows.append({
            "sub": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "username": username, "username_key": username_key(username),
            "email": email, "email_key": email_key(email), "email_verified": True,
            "given_name": first_name, "family_name": last_name, "given_name_key": KEYS[first_name],
            "family_name_key": KEYS[last_name],
            "birthdate": BIRTH_START + dt.timedelta(days=rng.randrange(BIRTH_DAYS)),
            "password_hash": password_hash, "status": "active", "created_at": now, "updated_at": now,
        })
    return rows


def seed(engine: Engine, total: int, batch: int, rng: random.Random) -> float:
    """Insert ``total`` citizens through SQLAlchemy Core, one executemany per batch; returns seconds."""
    password_hash = hash_password(PASSWORD)  # one hash for all: a million would take hours
    users = User.__table__
    started = time.perf_counter()
    for first in range(0, total, batch):
        rows = accounts(first, min(batch, total - first), rng, password_hash)
        with engine.begin() as connection:
            connection.execute(users.insert(), rows)
        done = first + len(rows)
        if done % (10 * batch) == 0 or done == total:
            elapsed = time.perf_counter() - started
            print(f"  … {done:,} accounts in {elapsed:.0f} s", file=sys.stderr, flush=True)
    if not is_sqlite(engine):
        with engine.begin() as connection:  # what autovacuum would do soon after such a load
            connection.exec_driver_sql("ANALYZE users")
    return time.perf_counter() - started


def homonyms(engine: Engine) -> int:
    """Accounts sharing folded names and birth date with another account."""
    users = User.__table__
    groups = (select(func.count().label("size")).select_from(users)
              .group_by(users.c.family_name_key, users.c.given_name_key, users.c.birthdate)
              .having(func.count() > 1).subquery())
    with engine.connect() as connection:
        return connection.scalar(select(func.coalesce(func.sum(groups.c.size), 0)))


def samples(engine: Engine, count: int, rng: random.Random) -> list[dict]:
    """``count`` seeded citizens picked at random, read back from the database."""
    users = User.__table__
    with engine.connect() as connection:
        low, high = connection.execute(select(func.min(users.c.id), func.max(users.c.id))).one()
        wanted = rng.sample(range(low, high + 1), min(count, high - low + 1))
        found = []
        for start in range(0, len(wanted), 500):
            found += connection.execute(select(users.c.username, users.c.email, users.c.given_name,
                                               users.c.family_name, users.c.birthdate)
                                        .where(users.c.id.in_(wanted[start:start + 500]))).mappings().all()
    return [dict(row) for row in found]


# --- how citizens type -----------------------------------------------------------------------------------------------

def respell(name: str, rng: random.Random) -> str:
    """The same name as another citizen may type it: capitals, no accents, spaces for hyphens, stray spaces."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return rng.choice([name.upper(), bare.lower(), name.replace("-", " ").replace("'", " "), f"  {bare} "])


def recase(login: str, rng: random.Random) -> str:
    return login.upper() if rng.random() < 0.5 else login


def renumber(login: str, number: int) -> str:
    """Same shape, a number no seeded account has."""
    return re.sub(r"\d+(?=@|$)", str(number), login, count=1)


def new_family_name(rng: random.Random) -> str:
    """A double-barrelled name no seeded citizen has (checked on the folded form)."""
    while True:
        first, second = rng.sample(FAMILY_NAMES, 2)
        if name_key(f"{first}-{second}") not in FAMILY_KEYS:
            return f"{first}-{second}"


# --- in-process lookups -----------------------------------------------------------------------------------------------

def unindexed(db: Session, given: str, family: str, birthdate: dt.date) -> list[User]:
    """The same question on the raw name columns: no index serves it (PostgreSQL may walk all of
    ``ix_users_identity`` for the birth date; SQLite scans the table)."""
    return list(db.scalars(select(User).where(func.lower(User.given_name) == given.lower(),
                                              func.lower(User.family_name) == family.lower(),
                                              User.birthdate == birthdate).limit(3)))


def lookup_plan(people: list[dict], count: int, scans: int, first_free: int,
                rng: random.Random) -> dict[str, list[tuple]]:
    """What each kind of lookup is asked: ``(function, args...)``, hits typed as citizens type."""
    picks = [rng.choice(people) for _ in range(count)]
    ascii_people = [p for p in people if (p["given_name"] + p["family_name"]).isascii()]  # SQLite's lower() is ASCII
    free = itertools.count(first_free)
    return {
        "find_by_login(identifier), hit": [(find_by_login, recase(p["username"], rng)) for p in picks],
        "find_by_login(identifier), miss": [(find_by_login, renumber(p["username"], next(free))) for p in picks],
        "find_by_login(e-mail), hit": [(find_by_login, recase(p["email"], rng)) for p in picks],
        "find_by_login(e-mail), miss": [(find_by_login, renumber(p["email"], next(free))) for p in picks],
        "find_by_email, hit": [(find_by_email, recase(p["email"], rng)) for p in picks],
        "find_by_email, miss": [(find_by_email, renumber(p["email"], next(free))) for p in picks],
        "find_same_person, hit": [(find_same_person, respell(p["given_name"], rng), respell(p["family_name"], rng),
                                   p["birthdate"]) for p in picks],
        "find_same_person, miss (same names, next day)": [
            (find_same_person, p["given_name"], p["family_name"], p["birthdate"] + dt.timedelta(days=1))
            for p in picks],
        "raw names: lower(given_name), lower(family_name), birthdate": [
            (unindexed, p["given_name"], p["family_name"], p["birthdate"]) for p in rng.sample(ascii_people, scans)],
    }


def run_lookups(engine: Engine, plan: dict[str, list[tuple]],
                rng: random.Random) -> tuple[dict[str, list[float]], Counter]:
    """Every lookup in a fresh session, the kinds shuffled together so none runs on a colder cache."""
    order = [(kind, call) for kind, calls in plan.items() for call in calls]
    rng.shuffle(order)
    seconds: dict[str, list[float]] = {kind: [] for kind in plan}
    found: Counter = Counter()
    for kind, (function, *args) in order:
        with Session(engine) as db:
            start = time.perf_counter()
            result = function(db, *args)
            seconds[kind].append(time.perf_counter() - start)
        found[kind] += bool(result)
    return seconds, found


def explain(engine: Engine, function, *args) -> tuple[str, list[str]]:
    """The SQL the ORM sends for this call, and the database's plan for it."""
    sent = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as db:
            function(db, *args)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = sent[-1]
    with engine.connect() as connection:
        if is_sqlite(engine):
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return statement, [row[-1] for row in rows]
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        return statement, [row[0] for row in rows]


# --- sign-up under gunicorn -------------------------------------------------------------------------------------------

def signup_plan(people: list[dict], count: int, first_free: int, rng: random.Random) -> list[tuple[str, dict]]:
    """``count`` sign-ups of each kind, shuffled; every identifier and address typed is free unless meant not to be."""
    free = itertools.count(first_free)
    plan = []
    for _ in range(count):
        n, m, k = next(free), next(free), next(free)
        given, family = rng.choice(GIVEN_NAMES), new_family_name(rng)
        born = (BIRTH_START + dt.timedelta(days=rng.randrange(BIRTH_DAYS))).isoformat()
        g, f = login_part(given), login_part(family)
        plan.append(("new person", {"given_name": given, "family_name": family, "birthdate": born,
                                    "email": f"{g}.{f}.{n}@example.fr", "username": f"{g}.{f}{n}"}))
        person = rng.choice(people)
        g, f = login_part(person["given_name"]), login_part(person["family_name"])
        plan.append(("existing person (hint)", {
            "given_name": respell(person["given_name"], rng), "family_name": respell(person["family_name"], rng),
            "birthdate": person["birthdate"].isoformat(), "email": f"{g}.{f}.{m}@example.fr",
            "username": f"{g}.{f}{m}"}))
        given, family, owner = rng.choice(GIVEN_NAMES), new_family_name(rng), rng.choice(people)
        g, f = login_part(given), login_part(family)
        plan.append(("address in use", {"given_name": given, "family_name": family, "birthdate": born,
                                        "email": recase(owner["email"], rng), "username": f"{g}.{f}{k}"}))
    rng.shuffle(plan)
    for _, form in plan:
        form.update(password=PASSWORD, password_confirm=PASSWORD)
    return plan


def check_forms(plan: list[tuple[str, dict]]) -> None:
    """Every form must pass the form rules and the password policy, or the table would time refusals."""
    from flask import Flask

    from idp import password_policy

    policy = Flask("policy-check")
    policy.config["IDP_PASSWORD_MIN_LENGTH"] = BY_NAME["IDP_PASSWORD_MIN_LENGTH"].default
    with policy.app_context():
        for _, form in plan:
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{2,63}", form["username"]), form
            refused = password_policy.problems(PASSWORD, form["username"], form["email"])
            assert not refused, (form, refused)


def sign_up(base: str, kind: str, form: dict) -> tuple[str, float, int, bool]:
    """A fresh browser fills in the form; returns (kind, seconds of the POST, status, masked address shown)."""
    browser = requests.Session()
    page = browser.get(f"{base}/signup", timeout=TIMEOUT)
    page.raise_for_status()
    data = {**form, "csrf_token": CSRF.search(page.text)[1]}
    start = time.perf_counter()
    answer = browser.post(f"{base}/signup", data=data, allow_redirects=False, timeout=TIMEOUT)
    return kind, time.perf_counter() - start, answer.status_code, "•••@" in answer.text


def start_services(processes: list[subprocess.Popen], folder: Path, database_url: str, redis_port: int,
                   smtp_port: int, port: int, workers: int) -> None:
    """redis-server, gunicorn and the mail worker, as production runs them, on the seeded database (each
    appended to ``processes`` as it starts, so the caller stops whatever did start)."""
    base = f"http://127.0.0.1:{port}"
    processes.append(subprocess.Popen([shutil.which("redis-server") or redis_binary(), "--port", str(redis_port),
                                       "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL))
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_ENV="production", IDP_INSTANCE_DIR=str(folder / "instance"), IDP_DATABASE_URL=database_url,
               IDP_DB_AUTO_UPGRADE="false", IDP_ISSUER=base, IDP_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
               IDP_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}", IDP_SIGNUP_RATE_LIMIT=UNLIMITED,
               IDP_SIGNUP_HINT_RATE_LIMIT=UNLIMITED, IDP_SIGNUP_HINT_PERSON_RATE_LIMIT=UNLIMITED)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    processes.append(subprocess.Popen([str(gunicorn), "-w", str(workers), "-b", f"127.0.0.1:{port}",
                                       "idp:create_app()"], env=env, cwd=folder,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_for(f"{base}/readyz")
    # Started once gunicorn has written the instance folder (secret key, signing keys).
    processes.append(subprocess.Popen([str(Path(sys.executable).with_name("idp")), "mail", "worker"], env=env,
                                      cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


# --- tables ---------------------------------------------------------------------------------------------------------

def timing_table(first_column: str, seconds: dict[str, list[float]], extra: str,
                 extras: dict[str, str]) -> str:
    rows = [f"| {first_column} | n | {extra} | p50 ms | p99 ms | mean ms | max ms |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for kind, values in seconds.items():
        ordered = sorted(values)
        rows.append(f"| {kind} | {len(ordered)} | {extras[kind]} | {statistics.median(ordered) * 1000:.2f} "
                    f"| {percentile(ordered, 0.99) * 1000:.2f} | {statistics.fmean(ordered) * 1000:.2f} "
                    f"| {ordered[-1] * 1000:.2f} |")
    return "\n".join(rows)


def print_plan(title: str, statement: str, plan: list[str]) -> None:
    statement = re.sub(r"^SELECT .*? FROM ", "SELECT users.<every column> FROM ", " ".join(statement.split()))
    print(f"{title}:\n\n```sql\n{statement}\n```\n\n```\n" + "\n".join(plan) + "\n```\n")


def report_database(engine: Engine, args: argparse.Namespace, rng: random.Random) -> list[dict]:
    """Seed, time the lookups, show the plans; returns the sampled citizens for the sign-ups."""
    seeding = seed(engine, args.accounts, args.batch, rng)
    with engine.connect() as connection:
        kind = "SQLite" if is_sqlite(engine) else "PostgreSQL " + connection.exec_driver_sql(
            "SHOW server_version").scalar().split()[0]
    people = samples(engine, args.lookups, rng)
    print(f"# Sésame accounts at scale: {args.accounts:,} accounts, {kind}, {os.cpu_count()} cores "
          f"(load average {os.getloadavg()[0]:.1f} when seeded)\n")
    print("## Seeding (SQLAlchemy Core executemany, indexes in place, one shared argon2id hash)\n")
    print("| accounts | batch | seconds | rows/s | database size |\n|---:|---:|---:|---:|---:|")
    print(f"| {args.accounts:,} | {args.batch:,} | {seeding:.1f} | {args.accounts / seeding:,.0f} "
          f"| {database_size(engine) / 2**20:,.0f} MiB |\n")
    print(f"{homonyms(engine):,} accounts share their folded names and birth date with another account "
          f"(homonyms).\n")

    seconds, found = run_lookups(engine, lookup_plan(people, args.lookups, args.scans, args.accounts + 1, rng), rng)
    print("## Lookups (in process, ORM, a fresh session each, kinds shuffled together)\n")
    print(timing_table("lookup", seconds, "found", {k: f"{found[k]}" for k in seconds}) + "\n")

    print("## Query plans\n")
    person = people[0]
    print_plan("`find_same_person`", *explain(engine, find_same_person, respell(person["given_name"], rng),
                                              person["family_name"], person["birthdate"]))
    print_plan("`find_by_login` with an e-mail address", *explain(engine, find_by_login, person["email"]))
    print_plan("The contrast: the raw name columns", *explain(engine, unindexed, person["given_name"],
                                                              person["family_name"], person["birthdate"]))
    return people


def report_signups(base: str, args: argparse.Namespace, people: list[dict], rng: random.Random,
                   sink: MailSink, store: redis.Redis, worker: subprocess.Popen) -> None:
    """Time POST /signup on each path, then wait for the mails they queued."""
    signups = signup_plan(people, args.signups, args.accounts + 1 + 10 * args.lookups, rng)
    warmup = signup_plan(people, args.warmup, args.accounts + 1 + 20 * args.lookups, rng)
    check_forms(signups + warmup)
    times: dict[str, list[float]] = {kind: [] for kind in SIGNUP_KINDS}
    statuses: dict[str, Counter] = defaultdict(Counter)
    shown = mailed = 0
    with ThreadPoolExecutor(args.concurrency) as pool:
        for kind, _, status, _ in pool.map(lambda p: sign_up(base, *p), warmup):
            mailed += kind != "existing person (hint)" and status == 200
        started = time.perf_counter()
        for kind, elapsed, status, masked in pool.map(lambda p: sign_up(base, *p), signups):
            times[kind].append(elapsed)
            statuses[kind][status] += 1
            shown += masked
            mailed += kind != "existing person (hint)" and status == 200
        wall = time.perf_counter() - started
    waited = drain(store, sink, mailed, worker, args.drain_timeout)

    print(f"## Sign-up: POST /signup under gunicorn -w {args.workers} (IDP_ENV=production, SMTP sink, "
          f"`idp mail worker`), {args.concurrency} concurrent browsers\n")
    print(f"{3 * args.signups} timed POSTs in {wall:.1f} s ({3 * args.signups / wall:.1f}/s), "
          f"after {3 * args.warmup} untimed ones.\n")
    print(timing_table("path", times, "statuses",
                       {k: ", ".join(f"{n} × {s}" for s, n in sorted(statuses[k].items())) for k in times}))
    new, in_use = sorted(times["new person"]), sorted(times["address in use"])
    u, p = mann_whitney(new, in_use)
    print(f"\nmasked address shown: {shown} of {args.signups} hint answers; median new person − median address "
          f"in use: {(statistics.median(new) - statistics.median(in_use)) * 1000:+.2f} ms "
          f"(Mann-Whitney U = {u:.0f}, p = {p:.3f}; below 0.05: the time tells an address is in use)")
    print(f"mails received by the sink: {sink.count} for {mailed} answers that queue one "
          f"(warm-up included; all sent {waited:.1f} s after the last answer)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000, help="citizens seeded")
    parser.add_argument("--batch", type=int, default=20_000, help="rows per executemany while seeding")
    parser.add_argument("--lookups", type=int, default=2000, help="timed lookups of each kind")
    parser.add_argument("--scans", type=int, default=5, help="timed runs of the query on the raw name columns")
    parser.add_argument("--signups", type=int, default=200, help="timed sign-ups of each kind")
    parser.add_argument("--warmup", type=int, default=10, help="untimed sign-ups of each kind first")
    parser.add_argument("--concurrency", type=int, default=4, help="browsers signing up at once")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--seed", type=int, default=None, help="random seed (names, plans)")
    parser.add_argument("--drain-timeout", type=float, default=300, help="seconds to wait for the mails")
    parser.add_argument("--database-url", help="a PostgreSQL server (no database name): the bench creates "
                                               "sesame_bench_<random> there and drops it; default: a SQLite file")
    args = parser.parse_args()
    began = time.perf_counter()
    rng = random.Random(args.seed)

    database_url = create_database(args.database_url) if args.database_url else None
    folder = Path(tempfile.mkdtemp(prefix="sesame-bench-"))
    database_url = database_url or f"sqlite:///{folder / 'idp.sqlite3'}"
    redis_port, port, smtp_port = free_port(), free_port(), free_port()
    processes: list[subprocess.Popen] = []
    sink = MailSink(smtp_port)
    sink_started = False
    try:
        idp_db.upgrade(database_url)
        engine = idp_db.make_engine(database_url)
        try:
            people = report_database(engine, args, rng)
        finally:
            engine.dispose()
        sink.controller.start()
        sink_started = True
        start_services(processes, folder, database_url, redis_port, smtp_port, port, args.workers)
        report_signups(f"http://127.0.0.1:{port}", args, people, rng, sink, redis.Redis(port=redis_port),
                       processes[-1])
        print(f"\ntotal run time: {time.perf_counter() - began:.0f} s "
              f"(load average {os.getloadavg()[0]:.1f} at the end)")
    finally:
        for process in reversed(processes):
            stop(process)
        if sink_started:
            sink.controller.stop()
        if args.database_url:
            drop_database(database_url)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
