"""``idp serve --demo``: a citizen and a client to try the provider with, right after the quick
start.  They are the same at every start: the password and the client secret are made once
and kept in the instance folder (``demo.json``, 0600) -- the secret is stored hashed in the
database, so that file is the only place to print it again from.  The citizen's password is
put back to the kept one at each start, so what is printed always works."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from .clients import register
from .db import session
from .instance import write_private
from .models import Client, User, hash_client_secret
from .passwords import hash_password
from .users import create

DEMO_USER = {"username": "demo", "email": "demo@example.org", "given_name": "Camille", "family_name": "Martin",
             "birthdate": dt.date(1990, 5, 17)}
DEMO_RP = "http://localhost:8000"  # examples/demo_rp.py


def demo_secrets(instance_dir: str) -> dict:
    """The demo password and client secret, made on the first start, then read back."""
    path = Path(instance_dir) / "demo.json"
    if path.exists():
        return json.loads(path.read_text())
    kept = {"password": secrets.token_urlsafe(12), "client_secret": secrets.token_urlsafe(32)}
    write_private(path, json.dumps(kept))
    return kept


def create_demo(app: Flask) -> dict:
    """The demo citizen and the demo confidential client, made or put back; what to print."""
    db = session()
    kept = demo_secrets(app.config["IDP_INSTANCE_DIR"])
    user = db.scalar(select(User).where(User.username_key == DEMO_USER["username"]))
    if user is None:
        create(db, password=kept["password"], **DEMO_USER)
    else:
        user.password_hash = hash_password(kept["password"])
    uris = {"redirect_uris": [f"{DEMO_RP}/callback"], "post_logout_redirect_uris": [f"{DEMO_RP}/"]}
    client = db.get(Client, "demo") or register(db, name="Démo", client_id="demo",
                                                scope="openid profile email address phone", **uris)[0]
    client.redirect_uris, client.post_logout_redirect_uris = uris["redirect_uris"], uris["post_logout_redirect_uris"]
    client.secret_hash = hash_client_secret(kept["client_secret"])
    db.commit()
    return {**DEMO_USER, "password": kept["password"], "client_id": client.client_id,
            "client_secret": kept["client_secret"], "redirect_uri": client.redirect_uris[0],
            "issuer": app.config["IDP_ISSUER"], "relying_party": DEMO_RP}


