"""The Kafka relay: bytes both ways, and peers outside the allowed network refused."""

from __future__ import annotations

import asyncio
import ipaddress

from meshpipe.demo.forward import ForwardSettings, Relay, parse


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"echo:" + await reader.read(100))
    await writer.drain()
    writer.close()


async def test_relay_carries_bytes_both_ways() -> None:
    target = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = target.sockets[0].getsockname()[1]
    relay = Relay(ForwardSettings(("127.0.0.1", 0), ("127.0.0.1", port)))
    front = await asyncio.start_server(relay.handle, "127.0.0.1", 0)
    async with target, front:
        reader, writer = await asyncio.open_connection(*front.sockets[0].getsockname()[:2])
        writer.write(b"hello")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(100), 5)
        writer.close()
    assert answer == b"echo:hello"


def test_a_peer_outside_the_allowed_network_is_refused() -> None:
    relay = Relay(
        ForwardSettings(
            ("10.254.77.1", 1), ("127.0.0.1", 2), ipaddress.ip_network("10.254.77.0/24")
        )
    )
    assert relay.allowed(("10.254.77.12", 40000))
    assert not relay.allowed(("192.0.2.7", 40000))


def test_arguments_name_listen_target_and_allowed_network() -> None:
    settings = parse(["127.0.0.1:9092", "10.254.77.1:17092", "--allow", "10.254.77.0/24"])
    assert settings.listen == ("127.0.0.1", 9092)
    assert settings.target == ("10.254.77.1", 17092)
    assert settings.allow == ipaddress.ip_network("10.254.77.0/24")
