"""Parsing the proxy's flag values into settings."""

from __future__ import annotations

import pytest

from meshpipe.proxy.layer import Address
from meshpipe.proxy.settings import SettingsError, listeners, parse_address, parse_inbound
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2


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


def test_transparent_inbound_accepts_a_bare_listen_address() -> None:
    [inbound] = listeners("0.0.0.0:4143", None, transparent=True)
    assert (inbound.address, inbound.target, inbound.transparent, inbound.needs_target) == (
        Address("0.0.0.0", 4143),
        None,
        True,
        True,
    )


def test_transparent_inbound_with_an_app_keeps_forwarding_to_that_app() -> None:
    [inbound] = listeners("10.0.0.2:4143=127.0.0.1:8080", None, transparent=True)
    assert (inbound.target, inbound.transparent) == (Address("127.0.0.1", 8080), False)


def test_bare_inbound_without_transparent_is_a_one_line_error() -> None:
    with pytest.raises(SettingsError) as caught:
        listeners("0.0.0.0:4143", None, transparent=False)
    assert "needs --transparent" in str(caught.value)
    assert "\n" not in str(caught.value)
