"""The Python HTTP/1.1 parser: bodies (framing, chunked re-framing, trailers), and the strict head
parser that says why a head is refused (llhttp checks heads first: proxy.http1_head)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from meshpipe.proxy.trailers import forwardable_trailers

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_TARGET = re.compile(rb"^[\x21-\x7e\x80-\xff]+$")
_VERSION = re.compile(rb"^HTTP/1\.[01]$")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_HEX = re.compile(rb"^[0-9A-Fa-f]{1,16}$")
_STATUS = re.compile(rb"^[1-9][0-9]{2}$")
# One well-formed header line: token name, optional whitespace, a value without control
# characters (tab allowed), optional whitespace. Anything else takes the slow path that says why.
_HEADER_LINE = re.compile(
    r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*"
)
MAX_CHUNK_LINE = 4096


class ParseError(Exception):
    """The peer sent something this proxy refuses to interpret; status is the HTTP answer."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


def bad(message: str) -> ParseError:
    return ParseError(400, "bad_request", message)


Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    version: str
    headers: Headers


@dataclass(frozen=True)
class ResponseHead:
    version: str
    status: int
    reason: str
    headers: Headers


def serialize_headers(headers: Headers) -> bytes:
    return b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in headers)


def serialize_response(head: ResponseHead) -> bytes:
    line = f"{head.version} {head.status} {head.reason}\r\n".encode("latin-1")
    return line + serialize_headers(head.headers) + b"\r\n"


def take_head(buf: bytearray, max_bytes: int) -> bytes | None:
    """Remove and return one complete head (without the blank line) from buf, or None."""
    while buf.startswith(b"\r\n"):  # RFC 9112 §2.2: ignore empty lines before a request
        del buf[:2]
    end = buf.find(b"\r\n\r\n")
    scanned = len(buf) if end < 0 else end + 4
    reject_bare_line_breaks(bytes(buf[:scanned]))
    if end < 0:
        if len(buf) > max_bytes:
            raise ParseError(431, "header_too_large", "message head too large")
        return None
    if end + 4 > max_bytes:
        raise ParseError(431, "header_too_large", "message head too large")
    raw = bytes(buf[:end])
    del buf[: end + 4]
    return raw


def reject_bare_line_breaks(data: bytes) -> None:
    if data.endswith(b"\r"):  # the LF may still be on its way
        data = data[:-1]
    if data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n"):
        raise bad("bare CR or LF in message head")


def parse_headers(lines: list[bytes]) -> Headers:
    """Header lines (bytes, without CRLF) as (name, value) pairs; ParseError when malformed."""
    return _parse_header_text([line.decode("latin-1") for line in lines])


def _header_section(rest: bytes) -> Headers:
    """The headers after a head's start line (decoded once, not line by line)."""
    return _parse_header_text(rest.decode("latin-1").split("\r\n")) if rest else ()


def _parse_header_text(lines: list[str]) -> Headers:
    """The fast path over latin-1 text (one decode per head); odd lines get the precise error."""
    out: list[tuple[str, str]] = []
    match = _HEADER_LINE.fullmatch
    for line in lines:
        found = match(line)
        if found is None:
            _explain_bad_line(line.encode("latin-1"))
            raise bad("malformed header line")  # pragma: no cover - _explain raises first
        out.append((found[1], found[2]))
    return tuple(out)


def _explain_bad_line(line: bytes) -> None:
    """Raise the ParseError that says what is wrong with one header line."""
    if line[:1] in (b" ", b"\t"):
        raise bad("obs-fold line in header section")
    name, sep, value = line.partition(b":")
    if not sep or not _TOKEN.match(name):
        raise bad("malformed header line")
    if _BAD_VALUE.search(value.strip(b" \t")):
        raise bad("control character in header value")


def parse_request_head(raw: bytes) -> RequestHead:
    line, _, rest = raw.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not _TARGET.match(parts[1]):
        raise bad("malformed request line")
    if not _VERSION.match(parts[2]):
        raise ParseError(505, "bad_request", "unsupported HTTP version")
    head = RequestHead(
        method=parts[0].decode("ascii"),
        target=parts[1].decode("latin-1"),
        version=parts[2].decode("ascii"),
        headers=_header_section(rest),
    )
    hosts = sum(name.lower() == "host" for name, _ in head.headers)
    if parts[2] == b"HTTP/1.1" and hosts != 1:
        raise bad("HTTP/1.1 request without exactly one Host header")
    return head


def parse_response_head(raw: bytes) -> ResponseHead:
    line, _, section = raw.partition(b"\r\n")
    version, _, rest = line.partition(b" ")
    status, _, reason = rest.partition(b" ")
    if not _VERSION.match(version) or not _STATUS.match(status) or _BAD_VALUE.search(reason):
        raise ParseError(502, "protocol_error", "malformed status line from upstream")
    return ResponseHead(
        version=version.decode("ascii"),
        status=int(status),
        reason=reason.decode("latin-1"),
        headers=_header_section(section),
    )


class Framing(Enum):
    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    UNTIL_CLOSE = "until_close"


@dataclass(frozen=True)
class BodyFraming:
    kind: Framing
    length: int = 0


class BodyReader:
    """Consumes one body from a buffer; yields re-framed bytes to forward and payload counts.

    Chunked bodies are re-serialized (sizes normalized, extensions dropped) so nothing ambiguous
    reaches the other side; trailer fields that must not be trailers are dropped and counted in
    trailer_fields_dropped (proxy.trailers).
    """

    __slots__ = (
        "_framing",
        "_max_trailer",
        "_remaining",
        "_state",
        "done",
        "trailer_fields_dropped",
        "until_close",
    )

    def __init__(self, framing: BodyFraming, max_trailer_bytes: int) -> None:
        self._framing = framing
        self._remaining = framing.length
        self._max_trailer = max_trailer_bytes
        self._state = "size"  # chunked: size, data, data_end, trailers
        self.done = framing.kind == Framing.NONE
        self.until_close = framing.kind == Framing.UNTIL_CLOSE
        self.trailer_fields_dropped = 0

    def feed(self, buf: bytearray) -> tuple[bytes, int]:
        """Consume what is possible from buf; return (bytes to forward, payload bytes)."""
        if self.done:
            return b"", 0
        kind = self._framing.kind
        if kind == Framing.UNTIL_CLOSE:
            data = bytes(buf)
            buf.clear()
            return data, len(data)
        if kind == Framing.LENGTH:
            data = bytes(buf[: self._remaining])
            del buf[: len(data)]
            self._remaining -= len(data)
            self.done = self._remaining == 0
            return data, len(data)
        return self._feed_chunked(buf)

    def _feed_chunked(self, buf: bytearray) -> tuple[bytes, int]:
        out: list[bytes] = []
        payload = 0
        while not self.done:
            step = self._chunk_step(buf)
            if step is None:
                break
            out.append(step[0])
            payload += step[1]
        return b"".join(out), payload

    def _chunk_step(self, buf: bytearray) -> tuple[bytes, int] | None:
        if self._state == "size":
            line = _take_line(buf, MAX_CHUNK_LINE)
            if line is None:
                return None
            size_text = line.split(b";", 1)[0]
            if not _HEX.match(size_text) or _BAD_VALUE.search(line):
                raise bad("invalid chunk size line")
            self._remaining = int(size_text, 16)
            self._state = "data" if self._remaining else "trailers"
            return (f"{self._remaining:x}\r\n".encode(), 0) if self._remaining else (b"0\r\n", 0)
        if self._state == "data":
            if not buf:
                return None
            data = bytes(buf[: self._remaining])
            del buf[: len(data)]
            self._remaining -= len(data)
            if self._remaining == 0:
                self._state = "data_end"
            return data, len(data)
        if self._state == "data_end":
            if len(buf) < 2:
                return None
            if buf[:2] != b"\r\n":
                raise bad("chunk data not followed by CRLF")
            del buf[:2]
            self._state = "size"
            return b"\r\n", 0
        return self._trailers(buf)

    def _trailers(self, buf: bytearray) -> tuple[bytes, int] | None:
        if buf.startswith(b"\r\n"):
            del buf[:2]
            self.done = True
            return b"\r\n", 0
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > self._max_trailer:
                raise ParseError(431, "header_too_large", "trailer section too large")
            reject_bare_line_breaks(bytes(buf))
            return None
        raw = bytes(buf[:end])
        reject_bare_line_breaks(raw)
        trailers, self.trailer_fields_dropped = forwardable_trailers(
            parse_headers(raw.split(b"\r\n"))
        )
        del buf[: end + 4]
        self.done = True
        return serialize_headers(tuple(trailers)) + b"\r\n", 0


def _take_line(buf: bytearray, max_len: int) -> bytes | None:
    end = buf.find(b"\r\n")
    if end < 0:
        if len(buf) > max_len or b"\n" in buf:
            raise bad("invalid chunk size line")
        return None
    line = bytes(buf[:end])
    del buf[: end + 2]
    return line


_AUTHORITY = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_~%!$&'()*+,;=]+)(?::([0-9]{1,5}))?$")


def split_authority(authority: str, default_port: int) -> tuple[str, int]:
    """host and port of host[:port] (IPv6 in brackets); ParseError when malformed."""
    match = _AUTHORITY.match(authority)
    if not match:
        raise bad("malformed authority")
    port = int(match.group(2)) if match.group(2) else default_port
    if not 0 < port < 65536:
        raise bad("invalid port")
    return match.group(1).strip("[]"), port


def split_absolute(target: str) -> tuple[str, str] | None:
    """(authority, origin-form path) of an absolute-form http URL, None for origin-form."""
    if target.startswith("/") or target == "*":
        return None
    scheme, sep, rest = target.partition("://")
    if not sep or scheme.lower() != "http":
        raise bad("only http:// absolute-form targets are proxied")
    authority, slash, path = rest.partition("/")
    authority, _, query = authority.partition("?")
    path = "/" + path if slash else "/"
    if query and not slash:
        path = "/?" + query
    if "@" in authority or not authority:
        raise bad("malformed absolute-form target")
    return authority, path
