"""A tiny TCP relay (`python -m demo.forward LISTEN TO`): carries Kafka between pods and host."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from meshpipe.demo.config import ConfigError, split

CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ForwardSettings:
    listen: tuple[str, int]
    target: tuple[str, int]
    allow: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None  # peers outside: refused


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK_BYTES):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


class Relay:
    """Accepts connections and splices each to a fresh connection to the target."""

    def __init__(self, settings: ForwardSettings) -> None:
        self.settings = settings

    def allowed(self, peer: object) -> bool:
        if self.settings.allow is None:
            return True
        if not isinstance(peer, tuple) or not peer:
            return False
        try:
            return ipaddress.ip_address(str(peer[0])) in self.settings.allow
        except ValueError:
            return False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.allowed(writer.get_extra_info("peername")):
            writer.close()
            return
        host, port = self.settings.target
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()

    async def serve(self) -> None:
        """Until SIGTERM or SIGINT."""
        host, port = self.settings.listen
        server = await asyncio.start_server(self.handle, host, port, reuse_address=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()


def parse(argv: Sequence[str]) -> ForwardSettings:
    parser = argparse.ArgumentParser(prog="python -m demo.forward", description=__doc__)
    parser.add_argument("listen", help="HOST:PORT to listen on, e.g. 127.0.0.1:9092")
    parser.add_argument("target", help="HOST:PORT to relay each connection to")
    parser.add_argument("--allow", help="accept only peers in this network, e.g. 10.254.77.0/24")
    args = parser.parse_args(argv)
    try:
        allow = ipaddress.ip_network(args.allow) if args.allow else None
        return ForwardSettings(_address(args.listen), _address(args.target), allow)
    except (ConfigError, ValueError) as exc:
        parser.error(str(exc))


def _address(text: str) -> tuple[str, int]:
    host, port = split(text)
    if not host or not 0 < port < 65536:
        raise ConfigError(f"want HOST:PORT, got {text!r}")
    return host, port


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse(sys.argv[1:] if argv is None else argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Relay(settings).serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
