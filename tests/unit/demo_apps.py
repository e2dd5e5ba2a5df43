"""Test helpers: the demo apps running in-process on free loopback ports, and a recording proxy."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import aiohttp

from meshpipe.demo.emoji import EmojiApp, EmojiSettings
from meshpipe.demo.voting import VotingApp, VotingSettings
from meshpipe.demo.web import WebApp, WebSettings

ANY_PORT = "127.0.0.1:0"


@dataclass(frozen=True)
class Demo:
    emoji: EmojiApp
    voting: VotingApp
    web: WebApp

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web.port}"


@contextlib.asynccontextmanager
async def running_demo(
    voting_env: Mapping[str, str] | None = None, web_env: Mapping[str, str] | None = None
) -> AsyncIterator[Demo]:
    """emoji, voting and web wired to each other directly (no mesh), each app given its env."""
    emoji = EmojiApp(EmojiSettings(listen=ANY_PORT))
    await emoji.start()
    emoji_addr = f"127.0.0.1:{emoji.port}"
    voting = VotingApp(
        VotingSettings.from_env(
            {"LISTEN_ADDR": ANY_PORT, "EMOJI_ADDR": emoji_addr, **(voting_env or {})}
        )
    )
    await voting.start()
    web = WebApp(
        WebSettings.from_env(
            {
                "LISTEN_ADDR": ANY_PORT,
                "EMOJI_ADDR": emoji_addr,
                "VOTING_ADDR": f"127.0.0.1:{voting.port}",
                **(web_env or {}),
            }
        )
    )
    await web.start()
    try:
        yield Demo(emoji, voting, web)
    finally:
        await web.stop()
        await voting.stop()
        await emoji.stop()


async def call(
    base: str, method: str, path: str, params: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """One HTTP/1 request without a proxy: (status, body text)."""
    async with (
        aiohttp.ClientSession(base) as http,
        http.request(method, path, params=params) as response,
    ):
        return response.status, await response.text()


@dataclass
class RecordingProxy:
    """A tiny forward proxy (CONNECT and absolute-form HTTP/1) recording each request line."""

    seen: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode()
            self.seen.append(line)
            method, target, _ = line.split(" ", 2)
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:  # absolute-form: http://host:port/path, forwarded as it came
                authority = target.split("/", 3)[2]
                host, port = authority.rsplit(":", 1)
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
                up_writer.write(head)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()
