"""HTTP/1.1 message heads: checked by llhttp (httptools) plus what it allows, rewritten in place.

llhttp (C, strict by default) validates a whole head in one call: header names and values, bare
CR or LF, obs-fold, whitespace before the colon, Content-Length syntax and duplicates,
Transfer-Encoding with Content-Length. This module checks the few things it lets through
(`GET  /` with two spaces, a version other than 1.0/1.1, the Host count, a Transfer-Encoding
that is not exactly `chunked`, status lines it reads leniently) and keeps only the fields the
relay and the event need. Whatever llhttp refuses goes to the Python parser of
`proxy.http1_parse`, which says precisely why (the 400 and its event) or, for what it accepts
and llhttp does not (extension methods, non-ASCII targets), keeps today's behaviour.

Forwarding sends the head's own bytes; only a head with fields to remove, a target to change or
a field to add is rebuilt, line by line, from those bytes.
"""

from __future__ import annotations

import re

import httptools

from meshpipe.proxy.http1_parse import (
    BodyFraming,
    Framing,
    ParseError,
    bad,
    parse_request_head,
    parse_response_head,
    reject_bare_line_breaks,
)

# The fields anything downstream of parsing looks at; the others are forwarded, never read.
KEPT_FIELDS = frozenset(
    {
        b"host",
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"upgrade",
        b"http2-settings",
        b"proxy-connection",
        b"proxy-authorization",
        b"meshpipe-src",
        b"meshpipe-dst",
        b"traceparent",
        b"user-agent",
        b"content-type",
        b"x-request-id",
        b"authorization",
    }
)
_REQUEST_LINE = re.compile(
    rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e\x80-\xff]+) (HTTP/1\.[01])"
)
_STATUS_LINE = re.compile(rb"(HTTP/1\.[01]) ([1-9][0-9]{2})(?: [^\x00-\x08\x0a-\x1f\x7f]*)?")
_DIGITS = re.compile(rb"[0-9]{1,18}")
NO_BODY = BodyFraming(Framing.NONE)
CHUNKED = BodyFraming(Framing.CHUNKED)
UNTIL_CLOSE = BodyFraming(Framing.UNTIL_CLOSE)

Fields = dict[bytes, list[bytes]]  # lower-case name -> values (outer whitespace removed), in order


class _Collector:
    """httptools callbacks: keeps the fields in KEPT_FIELDS."""

    __slots__ = ("fields",)

    def __init__(self) -> None:
        self.fields: Fields = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in KEPT_FIELDS:
            found = self.fields.get(name)
            if found is None:
                self.fields[name] = [value.rstrip(b" \t")]
            else:
                found.append(value.rstrip(b" \t"))


class Head:
    """One message head: its bytes (through the blank line), start line and kept fields."""

    __slots__ = ("fields", "method", "raw", "status", "target", "version")

    def __init__(
        self,
        raw: bytes,
        version: bytes,
        fields: Fields,
        method: str = "",
        target: str = "",
        status: int = 0,
    ) -> None:
        self.raw = raw
        self.version = version
        self.fields = fields
        self.method = method
        self.target = target
        self.status = status

    def values(self, name: bytes) -> list[bytes]:
        """Every value of a kept field (name in lower case), in order; do not modify."""
        return self.fields.get(name, _NONE)

    def first(self, name: bytes) -> str:
        """The first value of a kept field as text, "" when absent."""
        found = self.fields.get(name)
        return found[0].decode("latin-1") if found else ""

    def has(self, name: bytes) -> bool:
        return name in self.fields

    def has_token(self, name: bytes, token: bytes) -> bool:
        """Whether a comma-separated field (e.g. Connection) lists token, case-insensitively."""
        found = self.fields.get(name)
        if found is None:
            return False
        for value in found:
            if b"," in value:
                if any(part.strip().lower() == token for part in value.split(b",")):
                    return True
            elif value.strip().lower() == token:
                return True
        return False

    def text_fields(self, names: frozenset[bytes]) -> list[tuple[str, str]]:
        """The values of the kept fields named in names, as text (grouped by name)."""
        return [
            (n.decode("latin-1"), v.decode("latin-1"))
            for n, values in self.fields.items()
            if n in names
            for v in values
        ]


_NONE: list[bytes] = []


def parse_request(raw: bytes) -> Head:
    """A request head (raw ends with the blank line's CRLF CRLF); ParseError when refused."""
    collector = _Collector()
    try:
        httptools.HttpRequestParser(collector).feed_data(raw)
    except httptools.HttpParserUpgrade:
        pass  # CONNECT or Upgrade: the head itself parsed fine
    except httptools.HttpParserError:
        return _python_request(raw)
    line = _REQUEST_LINE.fullmatch(raw, 0, raw.find(b"\r\n"))
    if line is None:
        return _python_request(raw)
    version = line[3]
    if version == b"HTTP/1.1" and len(collector.fields.get(b"host", _NONE)) != 1:
        raise bad("HTTP/1.1 request without exactly one Host header")
    return Head(
        raw,
        version,
        collector.fields,
        method=line[1].decode("ascii"),
        target=line[2].decode("latin-1"),
    )


def parse_response(raw: bytes) -> Head:
    """A response head (raw ends with CRLF CRLF); ParseError (502) when refused."""
    collector = _Collector()
    try:
        httptools.HttpResponseParser(collector).feed_data(raw)
    except httptools.HttpParserUpgrade:
        pass  # 101: the head itself parsed fine
    except httptools.HttpParserError:
        return _python_response(raw)
    line = _STATUS_LINE.fullmatch(raw, 0, raw.find(b"\r\n"))
    if line is None:
        return _python_response(raw)
    return Head(raw, line[1], collector.fields, status=int(line[2]))


def _python_request(raw: bytes) -> Head:
    """What llhttp refused or read leniently: the Python parser's verdict, error or head."""
    reject_bare_line_breaks(raw)
    head = parse_request_head(raw[:-4])
    fields = _kept([(n.lower(), v) for n, v in head.headers])
    return Head(raw, head.version.encode(), fields, method=head.method, target=head.target)


def _python_response(raw: bytes) -> Head:
    reject_bare_line_breaks(raw)
    head = parse_response_head(raw[:-4])
    fields = _kept([(n.lower(), v) for n, v in head.headers])
    return Head(raw, head.version.encode(), fields, status=head.status)


def _kept(fields: list[tuple[str, str]]) -> Fields:
    kept: Fields = {}
    for name, value in fields:
        key = name.encode("latin-1")
        if key in KEPT_FIELDS:
            kept.setdefault(key, []).append(value.encode("latin-1"))
    return kept


def take(buf: bytearray, max_bytes: int) -> bytes | None:
    """Remove and return one complete head, through its blank line, from buf; None until then.

    Only an incomplete head is checked here (a bare CR or LF, the size limit), so a bad one is
    refused before the rest arrives; a complete one is llhttp's to check.
    """
    if not buf:
        return None
    while buf.startswith(b"\r\n"):  # RFC 9112 §2.2: ignore empty lines before a request
        del buf[:2]
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        reject_bare_line_breaks(bytes(buf))
        if len(buf) > max_bytes:
            raise ParseError(431, "header_too_large", "message head too large")
        return None
    end += 4
    if end > max_bytes:
        reject_bare_line_breaks(bytes(buf[:end]))
        raise ParseError(431, "header_too_large", "message head too large")
    if end == len(buf):  # the common case: the buffer holds just this head
        raw = bytes(buf)
        buf.clear()
        return raw
    head = bytes(buf[:end])
    del buf[:end]
    return head


def framing(head: Head) -> BodyFraming | None:
    """Framing from Transfer-Encoding/Content-Length, None when neither is present."""
    te = head.values(b"transfer-encoding")
    cl = head.values(b"content-length")
    if not te and not cl:
        return None
    if te and cl:
        raise bad("both Transfer-Encoding and Content-Length")
    if len(cl) > 1:
        raise bad("more than one Content-Length")
    if te:
        if len(te) > 1 or te[0].lower() != b"chunked" or head.version == b"HTTP/1.0":
            raise bad("unsupported Transfer-Encoding")
        return CHUNKED
    if not _DIGITS.fullmatch(cl[0]):
        raise bad("invalid Content-Length")
    length = int(cl[0])
    return BodyFraming(Framing.LENGTH, length) if length else NO_BODY


def response_framing(head: Head, request_method: str) -> BodyFraming:
    """RFC 9112 §6.3: HEAD, 1xx, 204 and 304 have no body; otherwise headers or EOF decide."""
    try:
        found = framing(head)
    except ParseError as exc:
        raise ParseError(502, "protocol_error", f"upstream: {exc.message}") from exc
    status = head.status
    if request_method == "HEAD" or status < 200 or status in (204, 304):
        return NO_BODY
    if request_method == "CONNECT" and 200 <= status < 300:
        return NO_BODY
    return found or UNTIL_CLOSE


def rewrite(
    head: Head,
    drop: frozenset[bytes] = frozenset(),
    add: bytes = b"",
    start_line: bytes | None = None,
    drop_connection_with: bytes = b"",
) -> bytes:
    """The head's bytes with the fields named in drop removed (and Connection lines whose value
    contains drop_connection_with), add (whole CRLF-ended lines) appended and the start line
    replaced; the head's own bytes, untouched, when nothing changes."""
    if start_line is None and not drop_connection_with and drop.isdisjoint(head.fields):
        return head.raw[:-2] + add + b"\r\n" if add else head.raw
    # llhttp (or the Python parser) checked that every line ends in CRLF: splitting is exact.
    lines = head.raw[:-4].split(b"\r\n")
    out = [start_line if start_line is not None else lines[0]]
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.lower()
        if name in drop:
            continue
        if drop_connection_with and name == b"connection" and drop_connection_with in value:
            continue
        out.append(line)
    return b"\r\n".join(out) + b"\r\n" + add + b"\r\n"
