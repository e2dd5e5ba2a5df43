"""Shares one listening port between a gRPC (HTTP/2) backend and an HTTP/1 backend by peeking."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
PEEK_TIMEOUT_S = 5.0
CHUNK = 64 * 1024


@dataclass(frozen=True)
class MuxTargets:
    h2: tuple[str, int]  # where connections that open with the HTTP/2 preface go
    http1: tuple[str, int]  # everything else


class PortMux:
    """A TCP front that relays each connection to the backend its first bytes belong to."""

    def __init__(self, targets: MuxTargets) -> None:
        self._targets = targets
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 picks one); return the bound port."""
        self._server = await asyncio.start_server(self._handle, host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._open):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            head = await asyncio.wait_for(_peek(reader), PEEK_TIMEOUT_S)
            if head:
                target = self._targets.h2 if head == PREFACE else self._targets.http1
                await self._relay(head, reader, writer, target)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client or backend went away: nothing to report to either
        finally:
            self._open.discard(writer)
            writer.close()

    async def _relay(
        self,
        head: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        target: tuple[str, int],
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection(*target)
        self._open.add(up_writer)
        try:
            up_writer.write(head)
            await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
        finally:
            self._open.discard(up_writer)
            up_writer.close()


async def _peek(reader: asyncio.StreamReader) -> bytes:
    """Bytes up to the full HTTP/2 preface, or fewer as soon as they cannot be one."""
    head = b""
    while len(head) < len(PREFACE) and PREFACE.startswith(head):
        chunk = await reader.read(len(PREFACE) - len(head))
        if not chunk:
            break
        head += chunk
    return head


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream or a broken connection, then half-close the writer."""
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass  # a reset on either side ends this direction; the other ends on its own
    finally:
        if writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()
