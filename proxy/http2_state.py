"""The state of one relayed HTTP/2 stream: its two stream ids, the body bytes waiting in each
direction and its request record."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from meshpipe.proxy.commands import Side
from meshpipe.proxy.events import RequestRecord
from meshpipe.proxy.http2_headers import Headers, RequestHead


@dataclass
class Pipe:
    """Body bytes of one direction of a stream, waiting for the receiver's flow-control window.

    Bytes are acknowledged to their sender only when they leave the pipe, so a pipe never holds
    more than the window the proxy advertised to that sender.
    """

    chunks: deque[bytes] = field(default_factory=deque)
    buffered: int = 0
    end_received: bool = False  # the sender ended its side (END_STREAM, maybe with trailers)
    trailers: Headers | None = None
    end_sent: bool = False  # END_STREAM forwarded to the receiver
    aborted: bool = False  # the receiver is gone: nothing more is forwarded

    @property
    def done(self) -> bool:
        return self.end_sent or self.aborted

    @property
    def ready_to_end(self) -> bool:
        """Everything is forwarded but the end of stream itself."""
        return self.end_received and not self.chunks and not self.done

    def push(self, data: bytes) -> None:
        if data:
            self.chunks.append(data)
            self.buffered += len(data)

    def take(self, limit: int) -> bytes:
        """Up to limit bytes from the front."""
        chunk = self.chunks[0]
        if len(chunk) <= limit:
            self.chunks.popleft()
        else:
            chunk, self.chunks[0] = chunk[:limit], chunk[limit:]
        self.buffered -= len(chunk)
        return chunk

    def abort(self) -> int:
        """Stop forwarding; returns how many buffered bytes were dropped (still to acknowledge)."""
        dropped = self.buffered
        self.chunks.clear()
        self.buffered = 0
        self.aborted = True
        return dropped


@dataclass
class H2Stream:
    """A downstream stream and the upstream stream it is relayed to (once opened)."""

    down_sid: int
    head: RequestHead
    record: RequestRecord
    request_headers: Headers | None  # rewritten request head, until it is sent upstream
    up_sid: int | None = None
    request: Pipe = field(default_factory=Pipe)  # downstream → upstream
    response: Pipe = field(default_factory=Pipe)  # upstream → downstream
    caller_meshed: bool = False  # the request carried the caller's sidecar identity
    response_started: bool = False  # a final response head went downstream
    finished: bool = False  # the request event was published
    timer: str = ""  # name of the armed response timer, if any
    # A reset to send to that side once the response is delivered (peer ended early, RFC 9113 §8.1).
    deferred_reset: tuple[Side, int] | None = None

    def sid(self, side: Side) -> int | None:
        return self.down_sid if side is Side.DOWNSTREAM else self.up_sid

    def pipe_from(self, side: Side) -> Pipe:
        """The pipe carrying what that side sends."""
        return self.request if side is Side.DOWNSTREAM else self.response

    def pipe_to(self, side: Side) -> Pipe:
        """The pipe carrying what goes to that side."""
        return self.response if side is Side.DOWNSTREAM else self.request

    @property
    def response_complete(self) -> bool:
        """The upstream delivered its whole response (whether or not it is forwarded yet)."""
        return self.response.end_received and not self.response.aborted


def other(side: Side) -> Side:
    return Side.UPSTREAM if side is Side.DOWNSTREAM else Side.DOWNSTREAM
