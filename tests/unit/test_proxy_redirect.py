"""Choosing the upstream of iptables-REDIRECTed connections from their original destination."""

from __future__ import annotations

from meshpipe.proxy.layer import Address
from meshpipe.proxy.redirect import inbound_app, redirect_target
from meshpipe.proxy.settings import Listener
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

PROXY_PORTS = frozenset({4143, 4140, 4191})
INBOUND = Listener("inbound", Address("0.0.0.0", 4143), meshpipe_pb2.INBOUND, None, True)
OUTBOUND = Listener("outbound", Address("127.0.0.1", 4140), meshpipe_pb2.OUTBOUND, None, True)


def test_inbound_goes_to_loopback_at_the_original_port() -> None:
    assert inbound_app(Address("10.1.2.3", 8080), PROXY_PORTS) == Address("127.0.0.1", 8080)


def test_inbound_without_an_original_destination_has_no_app() -> None:
    assert inbound_app(None, PROXY_PORTS) is None


def test_inbound_to_one_of_the_proxy_ports_has_no_app_so_it_cannot_loop() -> None:
    assert [inbound_app(Address("10.1.2.3", p), PROXY_PORTS) for p in (4143, 4140, 4191)] == [
        None,
        None,
        None,
    ]


def test_outbound_goes_to_the_original_destination_itself() -> None:
    original = Address("10.96.0.10", 80)
    assert redirect_target(OUTBOUND, original, PROXY_PORTS) == original


def test_outbound_that_was_not_redirected_has_no_target() -> None:
    assert redirect_target(OUTBOUND, OUTBOUND.address, PROXY_PORTS) is None


def test_inbound_listener_rewrites_the_original_address_to_loopback() -> None:
    target = redirect_target(INBOUND, Address("10.1.2.3", 9090), PROXY_PORTS)
    assert target == Address("127.0.0.1", 9090)
