"""The source address of a request, for every limit that counts per client (one copy).

Behind a reverse proxy every request's TCP peer is the proxy, so per-address limits would put
every visitor in one bucket (one attacker locks everybody out). Only when the peer is one of
``TRUSTED_PROXIES`` (``bot.config.settings.trusted_proxies``) is ``X-Forwarded-For`` read: the
source is its rightmost address that is not itself a trusted proxy (the one the outermost trusted
proxy saw; whatever a client wrote further left is ignored). Otherwise the header is ignored
entirely, so a client cannot choose its own source. A malformed header never raises: trust stops
at the last trusted hop that handed it on.

Used by the Rasa channels (``bot.channels.rest``, ``bot.channels.web``: the ``source`` of the
identity check's limits) and the dashboard's login throttle (``analytics.login``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Union

from bot.config import settings

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
MAX_HOPS = 20  # X-Forwarded-For entries read, from the right; a longer chain is cut
MAX_PEER_CHARS = 64


def parse_address(text: object) -> Address | None:
    """``"203.0.113.7"``, ``"[2001:db8::1]:443"``, ``"203.0.113.7:5123"``, ``"::ffff:10.0.0.1"``
    (as 10.0.0.1) -> the address; anything else -> None."""
    if not isinstance(text, str):
        return None
    value = text.strip().strip('"')
    if value.startswith("["):  # [v6] or [v6]:port
        inside, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        value = inside
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    value = value.split("%", 1)[0]  # an IPv6 zone ("fe80::1%eth0")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def source_address(peer: object, forwarded_for: str | Iterable[str] | None,
                   proxies: Sequence[Network] | None = None) -> str | None:
    """The client's address: ``peer`` (the TCP peer), or when it is a trusted proxy, the
    rightmost ``X-Forwarded-For`` address (``forwarded_for``: the header's value or values) that
    is not a trusted proxy. None when there is no peer at all."""
    if not isinstance(peer, str) or not peer:
        return None
    current = parse_address(peer)
    if current is None:  # e.g. a Unix socket: as it is, never trusted
        return peer[:MAX_PEER_CHARS]
    proxies = settings.trusted_proxies() if proxies is None else proxies
    if not proxies or not _trusted(current, proxies):
        return str(current)
    values = [forwarded_for] if isinstance(forwarded_for, str) else list(forwarded_for or [])
    hops = [hop for value in values if isinstance(value, str) for hop in value.split(",")]
    for hop in reversed([hop for hop in hops if hop.strip()][-MAX_HOPS:]):
        address = parse_address(hop)
        if address is None:  # garbage: believe nothing left of it
            break
        current = address
        if not _trusted(address, proxies):
            break
    return str(current)
