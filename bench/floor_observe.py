"""Watches one HTTP/1.1 connection's bytes with httptools and reports each finished exchange.

The parsers only observe: the relay forwards every byte as it arrives, whatever they say. A
parse error stops the observing of that connection, never the relaying.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import httptools

from bench.floor_events import Exchange

Clock = Callable[[], int]  # nanoseconds


class _RequestSide:
    """httptools callbacks for requests: opens an exchange per request head."""

    def __init__(self, pending: deque[Exchange], clock: Clock, wall: Clock) -> None:
        self._pending = pending
        self._clock = clock
        self._wall = wall
        self._url = b""
        self._current = Exchange()
        self.parser = httptools.HttpRequestParser(self)

    def on_message_begin(self) -> None:
        self._current = Exchange(start_ns=self._clock(), start_wall_ns=self._wall())
        self._url = b""

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 4 and name.lower() == b"host":
            self._current.authority = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._current.method = self.parser.get_method().decode("ascii")
        self._current.path = self._url.decode("latin-1")
        self._pending.append(self._current)

    def on_body(self, body: bytes) -> None:
        self._current.request_bytes += len(body)


class _ResponseSide:
    """httptools callbacks for responses: closes the oldest open exchange per response."""

    def __init__(
        self, pending: deque[Exchange], clock: Clock, finished: Callable[[Exchange], None]
    ) -> None:
        self._pending = pending
        self._clock = clock
        self._finished = finished
        self.parser = httptools.HttpResponseParser(self)

    def on_headers_complete(self) -> None:
        if self._pending:
            self._pending[0].status = self.parser.get_status_code()
            self._pending[0].head_ns = self._clock()

    def on_body(self, body: bytes) -> None:
        if self._pending:
            self._pending[0].response_bytes += len(body)

    def on_message_complete(self) -> None:
        if self._pending:
            exchange = self._pending.popleft()
            exchange.end_ns = self._clock()
            self._finished(exchange)


class Observer:
    """Both directions of one connection; `finished` gets every complete exchange in order.
    (HEAD requests and 1xx responses are not told apart: the benchmark sends neither.)"""

    def __init__(
        self,
        finished: Callable[[Exchange], None],
        clock: Clock = time.monotonic_ns,
        wall: Clock = time.time_ns,
    ) -> None:
        pending: deque[Exchange] = deque()
        self._request = _RequestSide(pending, clock, wall)
        self._response = _ResponseSide(pending, clock, finished)
        self.broken = False  # a parser gave up: the connection is still relayed, not observed

    def request_data(self, data: bytes) -> None:
        self._feed(self._request.parser, data)

    def response_data(self, data: bytes) -> None:
        self._feed(self._response.parser, data)

    def _feed(
        self, parser: httptools.HttpRequestParser | httptools.HttpResponseParser, data: bytes
    ) -> None:
        if self.broken:
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserError:
            self.broken = True
