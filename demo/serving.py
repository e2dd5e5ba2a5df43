"""What every demo app shares to serve: an aiohttp site on HOST:PORT and running until a signal."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from typing import Protocol

from aiohttp import web

from meshpipe.demo.config import ConfigError, split


class App(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class HttpSite:
    """An aiohttp application listening on one loopback address (port 0 picks a free one)."""

    def __init__(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self.port = 0

    async def start(self, hostport: str) -> int:
        host, port = split(hostport)
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.port = sock.getsockname()[1]
        return self.port

    async def stop(self) -> None:
        await self._runner.cleanup()


async def serve_until_signal(app: App, name: str) -> None:
    """Start app, run until SIGTERM or SIGINT, stop it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    logging.getLogger(name).info("%s ready", name)
    await stop.wait()
    await app.stop()


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def run_app(name: str, build: Callable[[Mapping[str, str]], App]) -> int:
    """The `python -m demo.NAME` entry: app from the environment, served until a signal."""
    configure_logging()
    try:
        app = build(os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"{name}: {exc}\n")
        return 2
    asyncio.run(serve_until_signal(app, name))
    return 0
