"""Parsing the proxy's flag values into settings."""

from __future__ import annotations

import pytest

from proxy.layer import Address
from proxy.settings import SettingsError, listeners, parse_address, parse_inbound
from schemas.gen.meshpipe.v1 import meshpipe_pb2


def test_inbound_is_listen_then_app() -> None:
    assert parse_inbound("127.0.0.1:4143=127.0.0.1:8080") == (
        Address("127.0.0.1", 4143),
        Address("127.0.0.1", 8080),
    )


def test_bracketed_ipv6_address_is_accepted() -> None:
    assert parse_address("[::1]:4140", "x") == Address("::1", 4140)


@pytest.mark.parametrize("text", ["4143", "host:", ":80", "h:99999", "h:8o"])
def test_malformed_addresses_are_rejected_with_an_example(text: str) -> None:
    with pytest.raises(SettingsError, match=r"e\.g\. 127\.0\.0\.1:4143"):
        parse_address(text, "inbound")


def test_outbound_listener_is_explicit_unless_transparent() -> None:
    [out] = listeners(None, "127.0.0.1:4140", transparent=True)
    assert (out.direction, out.target, out.transparent) == (meshpipe_pb2.OUTBOUND, None, True)


def test_no_listener_at_all_is_an_error() -> None:
    with pytest.raises(SettingsError, match="nothing to proxy"):
        listeners(None, None, transparent=False)
