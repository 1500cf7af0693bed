"""What an operator lives through at an upgrade: the schema Alembic builds is the one the code
expects, and a database created before issue 4 gains folded names, filled in for the accounts it
already holds, and the index that finds the same person (SQLite, and PostgreSQL when
IDP_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from idp import db as idp_db
from idp.models import Base
from idp.users import find_same_person

from conftest import DATABASES, PG_URL

# Accounts as they were before issue 4, and the folded names the upgrade must give them.
OLD_ACCOUNTS = [
    (1, "Élodie", "Müller-Lüdenscheidt", "1984-07-14", "elodie", "mullerludenscheidt"),
    (2, "Jean-Pierre", "D'Artagnan", "1970-01-31", "jeanpierre", "dartagnan"),
    (3, "  François-Xavier ", "Le Goff", None, "francoisxavier", "legoff"),
]


def schema_differences(url: str, **options) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=options)
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def reflected_default(default) -> str:
    """The literal a reflected server default stands for: SQLite says ``('')``, PostgreSQL
    ``''::character varying``."""
    return re.sub(r"::[a-z ]+$", "", default.arg.text).strip("()").strip("'")


def test_migrated_schema_matches_the_models(database_url):
    assert schema_differences(database_url) == []


def test_only_known_server_defaults_differ_from_the_models(database_url):
    """0002 adds the folded-name columns to existing rows with server_default ''; the models set
    the value in Python instead. That is the only difference when server defaults are compared."""
    differences = schema_differences(database_url, compare_server_default=True)

    found = sorted((change[0][0], change[0][2], change[0][3], reflected_default(change[0][5]))
                   for change in differences)
    assert found == [("modify_default", "users", "family_name_key", ""),
                     ("modify_default", "users", "given_name_key", "")]


# A database from before issue 4 ----------------------------------------------------------------------------------

@pytest.fixture(params=DATABASES)
def fresh_database_url(request, tmp_path):
    """An empty database of the test's own: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    server = make_url(PG_URL)
    name = f"idp_migration_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(fresh_database_url):
    engine = create_engine(fresh_database_url)
    yield engine
    engine.dispose()


def insert_old_accounts(engine) -> None:
    """Rows written by plain SQL, as the code of revision 0001 stored them."""
    now = dt.datetime(2025, 1, 2, 3, 4, 5)
    with engine.begin() as connection:
        for user_id, given, family, birthdate, _, _ in OLD_ACCOUNTS:
            connection.execute(text(
                "INSERT INTO users (id, sub, username, username_key, email, email_key, email_verified, "
                "given_name, family_name, birthdate, status, created_at, updated_at) VALUES (:id, :sub, :username, "
                ":username, :email, :email, :verified, :given, :family, :birthdate, 'active', :now, :now)"
            ), {"id": user_id, "sub": str(uuid.uuid4()), "username": f"user{user_id}",
                "email": f"user{user_id}@example.fr", "verified": True, "given": given, "family": family,
                "birthdate": dt.date.fromisoformat(birthdate) if birthdate else None, "now": now})
        connection.execute(text("INSERT INTO pairwise_subjects (sector, user_id, sub) VALUES ('rp.example.fr', 1, "
                                "'pairwise-one')"))


def folded_names(engine) -> dict[int, tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, given_name_key, family_name_key FROM users ORDER BY id"))
        return {row.id: (row.given_name_key, row.family_name_key) for row in rows}


def identity_index(engine) -> dict | None:
    return next((index for index in inspect(engine).get_indexes("users") if index["name"] == "ix_users_identity"),
                None)


def revision(engine) -> str:
    with engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def head(url: str) -> str:
    return ScriptDirectory.from_config(idp_db.alembic_config(url)).get_current_head()


def assert_upgraded(engine) -> None:
    assert revision(engine) == head(engine.url.render_as_string(hide_password=False))
    assert folded_names(engine) == {user_id: (given_key, family_key)
                                    for user_id, _, _, _, given_key, family_key in OLD_ACCOUNTS}
    index = identity_index(engine)
    assert index is not None
    assert index["column_names"] == ["family_name_key", "given_name_key", "birthdate"]
    assert "help_requests" in inspect(engine).get_table_names()
    with Session(engine) as session:  # what sign-up and the help desk ask
        found = find_same_person(session, "ELODIE", "muller ludenscheidt", dt.date(1984, 7, 14))
        assert [user.id for user in found] == [1]
        found = find_same_person(session, "jean pierre", "d’artagnan", dt.date(1970, 1, 31))
        assert [user.id for user in found] == [2]


def test_upgrade_from_0001_folds_the_names_of_existing_accounts(fresh_database_url, engine):
    idp_db.upgrade(fresh_database_url, "0001")
    assert revision(engine) == "0001"
    insert_old_accounts(engine)

    idp_db.upgrade(fresh_database_url)

    assert_upgraded(engine)
    assert schema_differences(fresh_database_url) == []
    with engine.connect() as connection:  # nothing else touched
        rows = connection.execute(text("SELECT id, given_name, family_name FROM users ORDER BY id")).all()
        assert [tuple(row) for row in rows] == [(user_id, given, family)
                                                for user_id, given, family, _, _, _ in OLD_ACCOUNTS]
        assert connection.execute(text("SELECT user_id FROM pairwise_subjects")).scalar_one() == 1


def test_downgrade_to_0001_then_upgrade_again(fresh_database_url, engine):
    idp_db.upgrade(fresh_database_url, "0001")
    insert_old_accounts(engine)
    idp_db.upgrade(fresh_database_url)

    command.downgrade(idp_db.alembic_config(fresh_database_url), "0001")
    engine.dispose()  # SQLite: forget the table definitions cached by pooled connections

    assert revision(engine) == "0001"
    columns = {column["name"] for column in inspect(engine).get_columns("users")}
    assert not columns & {"given_name_key", "family_name_key"}
    assert identity_index(engine) is None
    assert "help_requests" not in inspect(engine).get_table_names()
    with engine.connect() as connection:  # the accounts, and what points to them, are still there
        assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == len(OLD_ACCOUNTS)
        assert connection.execute(text("SELECT user_id FROM pairwise_subjects")).scalar_one() == 1

    idp_db.upgrade(fresh_database_url)
    engine.dispose()

    assert_upgraded(engine)
    assert schema_differences(fresh_database_url) == []
