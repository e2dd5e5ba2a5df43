"""A TCP forwarder from the host's loopback into a network namespace, and a namespace probe.

The local cluster lives in its own network namespace; the API server is reached from the host
through this forwarder, so the host needs no address outside loopback.
Run as `python -m meshpipe.deploy.dev.nsforward PORT NETNS HOST:TARGET_PORT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import sys
import threading
from pathlib import Path

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000  # linux/sched.h
CHUNK = 65536
PROBE_TIMEOUT_S = 0.5


def enter_netns(netns: str) -> None:
    """Move the calling thread (only) into netns; sockets it creates then live there."""
    libc = ctypes.CDLL(None, use_errno=True)
    with (NETNS_DIR / netns).open("rb") as handle:
        if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))


def connects_in(netns: str, host: str, port: int) -> bool:
    """Whether host:port accepts a TCP connection, seen from inside netns."""
    result: list[bool] = []

    def probe() -> None:
        # A fresh thread each time: it ends inside the namespace and takes that with it.
        with contextlib.suppress(OSError):
            enter_netns(netns)
            with socket.socket() as sock:
                sock.settimeout(PROBE_TIMEOUT_S)
                result.append(sock.connect_ex((host, port)) == 0)

    thread = threading.Thread(target=probe, name=f"probe-{netns}", daemon=True)
    thread.start()
    thread.join()
    return bool(result and result[0])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()


async def _serve(listener: socket.socket, host: str, port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    listen_port, netns, target = int(argv[0]), argv[1], argv[2]
    host, port = target.rsplit(":", 1)
    listener = socket.create_server(("127.0.0.1", listen_port))  # in the host's namespace
    enter_netns(netns)  # every socket made from here on is the node's
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(listener, host, int(port)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
