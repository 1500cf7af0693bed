"""Where the operators' side answers: the admin API, the help desk's console and ``/metrics``
answer only to client addresses inside ``IDP_ADMIN_NETWORKS``; from anywhere else they do not
exist (the same 404 as an unknown path), so a stranger on the internet cannot even find them.

The address is ``request.remote_addr``, which ``IDP_TRUSTED_PROXIES`` has already corrected
(``ProxyFix``): behind a proxy the checked address is the citizen's, never the proxy's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import wraps

from flask import abort, current_app, request


def from_admin_network() -> bool:
    """Whether this request comes from one of the operators' networks."""
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:  # a unix socket peer or a forged X-Forwarded-For: not ours
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in current_app.config["IDP_ADMIN_NETWORKS"])


def refuse_outside() -> None:
    """Answer 404, exactly as for an unknown path, to a request from outside the networks."""
    if not from_admin_network():
        abort(404)


def admin_networks_only(view: Callable) -> Callable:
    """A view that exists only for the operators' networks (``/metrics``, a console page)."""

    @wraps(view)
    def guarded(*args, **kwargs):
        refuse_outside()
        return view(*args, **kwargs)

    return guarded
