"""IDP_DB_AUTO_UPGRADE=false: the schema is upgraded by `idp db upgrade`, once, and an app whose
database does not match its code refuses to start, in one line that says what to run."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from idp import db as idp_db
from idp.config import ConfigError


def test_an_empty_database_is_refused_with_what_to_run(build_app, tmp_path):
    with pytest.raises(ConfigError, match=r"IDP_DATABASE_URL: the database has no schema; this release needs "
                                          r"\w+: run `idp db upgrade` once"):
        build_app(IDP_DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}", IDP_DB_AUTO_UPGRADE=False)


def test_a_schema_behind_the_code_is_refused_and_upgrade_fixes_it(build_app, tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    idp_db.upgrade(url, "0001")
    with pytest.raises(ConfigError, match=r"the database is at revision 0001; this release needs"):
        build_app(IDP_DATABASE_URL=url, IDP_DB_AUTO_UPGRADE=False)
    idp_db.upgrade(url)
    app = build_app(IDP_DATABASE_URL=url, IDP_DB_AUTO_UPGRADE=False)
    assert app.test_client().get("/readyz").status_code == 200


def test_an_unreachable_database_does_not_stop_the_start(build_app):
    # Nothing listens on port 1: the server starts, and its pages answer 503 until the database is back.
    app = build_app(IDP_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2",
                    IDP_DB_AUTO_UPGRADE=False)
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["database"] != "ok"


def test_the_current_schema_is_accepted(app, database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == idp_db.head_revision()
    engine.dispose()
    assert app.test_client().get("/readyz").status_code == 200
