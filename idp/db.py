"""The SQL engine, the request-scoped session, and Alembic upgrades."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
logger = logging.getLogger("idp.db")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


@functools.cache
def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def schema_revision(url: str) -> str | None:
    """The revision the database is at (None: no schema yet)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def check_schema(url: str) -> None:
    """With IDP_DB_AUTO_UPGRADE=false: refuse to start on a schema this code does not match, in one
    line that says what to run.  A database that cannot be reached now is left to the requests
    (they answer 503 until it is back), so that a server starts while its database restarts."""
    from .config import ConfigError

    try:
        current = schema_revision(url)
    except OperationalError as error:
        logger.warning("database unreachable at start, schema not checked: %s", type(error.orig).__name__)
        return
    if current != head_revision():
        found = f"is at revision {current}" if current else "has no schema"
        raise ConfigError(f"IDP_DATABASE_URL: the database {found}; this release needs {head_revision()}: "
                          "run `idp db upgrade` once (IDP_DB_AUTO_UPGRADE is false)")


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["IDP_DATABASE_URL"])
    sessions = scoped_session(sessionmaker(engine, expire_on_commit=False))
    app.extensions["idp.db"] = sessions
    app.extensions["idp.engine"] = engine

    @app.teardown_appcontext
    def _remove_session(_exc):
        # The answer is already made: a database that went away since (a restart) must not turn
        # it into a bare 500 from the server. The pool drops the broken connection.
        try:
            sessions.remove()
        except DBAPIError as error:
            logger.warning("database connection lost at the end of a request: %s", type(error.orig).__name__)
            sessions.registry.clear()  # the next request of this thread gets a new session


def session() -> Session:
    """The SQL session of the current app context."""
    return current_app.extensions["idp.db"]()


def dispose(app: Flask) -> None:
    """Close the app's SQL connections (before its process hands over to workers)."""
    app.extensions["idp.db"].remove()
    app.extensions["idp.engine"].dispose()
