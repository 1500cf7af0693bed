"""What the OpenID Connect layer needs from the app, in one place: ``provider()``."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app

from ..db import session as db_session
from ..keys import SigningKeys
from ..models import Client
from ..redis_store import Keys


@dataclass
class Provider:
    issuer: str
    redis: redis.Redis
    keys: Keys
    signing_keys: SigningKeys
    config: dict

    def clients(self, client_id: str | None) -> Client | None:
        if not client_id or len(client_id) > 64 or "\x00" in client_id:
            return None
        return current_app.extensions["idp.client_cache"].get(db_session(), client_id)


def provider() -> Provider:
    return current_app.extensions["idp"]
