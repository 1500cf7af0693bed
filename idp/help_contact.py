"""How to reach the help desk, for every page and mail: ``help_contact`` in templates.

A citizen told to "contact the help desk" must be given a way to: its address
(``IDP_HELPDESK_EMAIL``) and phone number (``IDP_HELPDESK_PHONE``), when configured.
"""

from __future__ import annotations

import re

from flask import Flask, current_app


def help_contact() -> dict:
    """``email``, ``phone`` and ``tel`` (the phone as a ``tel:`` URI), each None when not configured."""
    config = current_app.config
    phone = config["IDP_HELPDESK_PHONE"]
    return {"email": config["IDP_HELPDESK_EMAIL"], "phone": phone,
            "tel": "tel:" + re.sub(r"[^0-9+]", "", phone) if phone else None,
            "delay_days": config["IDP_HELPDESK_DELAY_DAYS"]}


def init_app(app: Flask) -> None:
    app.context_processor(lambda: {"help_contact": help_contact()})
