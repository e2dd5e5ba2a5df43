"""Where an iptables-REDIRECTed connection was going: SO_ORIGINAL_DST and the target it implies."""

from __future__ import annotations

import asyncio
import socket
import struct

from meshpipe.proxy.layer import Address
from meshpipe.proxy.settings import Listener
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h


def original_destination(transport: asyncio.Transport) -> Address | None:
    """The pre-REDIRECT destination of a connection (Linux SO_ORIGINAL_DST, IPv4)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    except OSError:
        return None
    port, packed = struct.unpack_from("!2xH4s", raw)
    return Address(socket.inet_ntoa(packed), port)


def inbound_app(original: Address | None, proxy_ports: frozenset[int]) -> Address | None:
    """Where a REDIRECTed inbound connection goes: 127.0.0.1 at its original port, as Linkerd's
    inbound proxy did before 2.11 (linkerd2-proxy#122; 2.11 switched to the original address);
    None when that is unknown or one of the proxy's own ports (a loop)."""
    if original is None or original.port in proxy_ports:
        return None
    return Address("127.0.0.1", original.port)


def redirect_target(
    listener: Listener, original: Address | None, proxy_ports: frozenset[int]
) -> Address | None:
    """The upstream of a connection on a transparent listener; None when it has none."""
    if listener.direction == meshpipe_pb2.INBOUND:
        return inbound_app(original, proxy_ports)
    return None if original == listener.address else original  # not redirected
