"""Which peers a network listener accepts: one rule for the control input and the simulator.

Whoever reaches a listener can spend the API key (control) or steer the fake API (simulator),
so both listen on loopback unless told otherwise, and listening anywhere else needs an explicit
list of peers. The rule:

- with no allowed peers (loopback only): any loopback address, 127.0.0.0/8 or ::1;
- with allowed peers: exactly those, plus this machine as 127.0.0.1 or ::1, so that a local
  tool still works once a remote one is allowed.
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Iterable

__all__ = [
    "ADDRESS_IN_USE",
    "MACHINE",
    "IPAddress",
    "PeerPolicyError",
    "host_port",
    "is_loopback",
    "parse_allowed_peers",
    "peer_address",
    "peer_allowed",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The error numbers of an address another program listens on (Windows has its own).
ADDRESS_IN_USE = frozenset({errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)})

#: This machine as a peer: always accepted.
MACHINE = frozenset({ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")})


class PeerPolicyError(ValueError):
    """A listener asked to listen beyond loopback with no allowed peers, or an allowed peer that
    is not an IP address: a usage mistake, reported in one line."""


def host_port(host: str, port: int) -> str:
    """``host:port`` as people and URLs write it: ``[::1]:7000`` for an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def peer_address(host: str) -> IPAddress:
    """An IP address, IPv4-mapped IPv6 ones as IPv4 (as a dual-stack socket reports them)."""
    address = ipaddress.ip_address(host.partition("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_allowed_peers(hosts: Iterable[str]) -> frozenset[IPAddress]:
    """The ``--allow-peer`` addresses, parsed; a name instead of an address is refused."""
    return frozenset(map(_allowed_peer, hosts))


def _allowed_peer(host: str) -> IPAddress:
    try:
        return peer_address(host)
    except ValueError:
        raise PeerPolicyError(f"--allow-peer {host!r} is not an IP address") from None


def is_loopback(host: str) -> bool:
    try:
        return peer_address(host).is_loopback
    except ValueError:
        return False


def peer_allowed(host: str, allowed: frozenset[IPAddress]) -> bool:
    """Whether a peer at ``host`` may talk to a listener that allows ``allowed``."""
    try:
        address = peer_address(host)
    except ValueError:
        return False
    if not allowed:
        return address.is_loopback
    return address in allowed or address in MACHINE
