"""Heads checked by llhttp plus our own checks: what it lets through is still refused, what it
refuses and the Python parser accepts is still relayed, and heads are forwarded as sent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proxy_trace import Trace, context

from meshpipe.proxy.commands import Side
from meshpipe.proxy.http1 import Http1Relay
from meshpipe.proxy.http1_head import Head, parse_request, parse_response, rewrite, take
from meshpipe.proxy.http1_parse import (
    ParseError,
    parse_request_head,
    parse_response_head,
    reject_bare_line_breaks,
)
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"


def relayed(request: bytes, response: bytes = OK) -> Trace:
    t = Trace(Http1Relay(context()))
    t.down(request)
    t.connected()
    t.up(response)
    return t


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ],
)
def test_what_llhttp_lets_through_is_still_refused(head: bytes, status: int) -> None:
    t = Trace(Http1Relay(context()))
    t.down(head)
    assert t.sent(Side.UPSTREAM) == b""
    assert t.sent(Side.DOWNSTREAM).startswith(f"HTTP/1.1 {status} ".encode())
    [ev] = t.events()
    assert ev.http_status == status


@pytest.mark.parametrize(
    "request_head",
    [
        b"FROB /x HTTP/1.1\r\nHost: a\r\n\r\n",  # an extension method llhttp does not list
        b"GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n",  # a non-ASCII target byte
    ],
)
def test_what_only_llhttp_refuses_is_relayed_as_before(request_head: bytes) -> None:
    t = relayed(request_head)
    assert t.sent(Side.UPSTREAM) == request_head
    assert t.sent(Side.DOWNSTREAM) == OK
    [ev] = t.events()
    assert (ev.method, ev.http_status) == (request_head.split(b" ")[0].decode(), 200)


@pytest.mark.parametrize(
    "status_line",
    [b"HTTP/1.1 200 O\x01K", b"HTTP/1.1 099 Low", b"HTTP/2.0 200 OK", b"HTTP/1.1  200 OK"],
)
def test_a_status_line_llhttp_reads_leniently_is_a_502(status_line: bytes) -> None:
    t = relayed(
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", status_line + b"\r\nContent-Length: 0\r\n\r\n"
    )
    assert t.sent(Side.DOWNSTREAM).startswith(b"HTTP/1.1 502 ")
    [ev] = t.events()
    assert (ev.http_status, ev.classification) == (502, meshpipe_pb2.FAILURE)


def test_heads_are_forwarded_byte_for_byte_spacing_and_case_kept() -> None:
    request = b"GET /a HTTP/1.1\r\nhOsT:a\r\nX-Odd:   spaced value  \r\n\r\n"
    response = b"HTTP/1.1 200 Fine Thanks\r\ncontent-LENGTH:2 \r\nX-B:\tb\r\n\r\nhi"
    t = relayed(request, response)
    assert t.sent(Side.UPSTREAM) == request
    assert t.sent(Side.DOWNSTREAM) == response
    assert t.events()[0].response_bytes == 2


def test_only_the_lines_that_change_are_rewritten() -> None:
    head = parse_request(
        b"GET http://a:1/p HTTP/1.1\r\nHost: a:1\r\nMeshpipe-Src: x/y/z\r\nX-Keep:  k \r\n\r\n"
    )
    out = rewrite(head, frozenset({b"meshpipe-src"}), b"add: 1\r\n", b"GET /p HTTP/1.1")
    assert out == b"GET /p HTTP/1.1\r\nHost: a:1\r\nX-Keep:  k \r\nadd: 1\r\n\r\n"


def test_kept_fields_are_trimmed_lower_case_and_in_order() -> None:
    head = parse_request(
        b"GET / HTTP/1.1\r\nHost: a \r\nConnection: keep-alive\r\nX-Other: o\r\n"
        b"CONNECTION:  Upgrade\r\n\r\n"
    )
    assert head.values(b"connection") == [b"keep-alive", b"Upgrade"]
    assert head.first(b"host") == "a"
    assert not head.has(b"x-other")
    assert head.has_token(b"connection", b"upgrade")


def test_a_response_head_parses_its_status_and_version() -> None:
    head = parse_response(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    assert (head.status, head.version, head.values(b"content-length")) == (404, b"HTTP/1.0", [b"0"])


def test_a_head_both_parsers_refuse_raises_the_python_parsers_reason() -> None:
    with pytest.raises(ParseError, match="obs-fold"):
        parse_request(b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n")


def test_a_head_is_a_plain_value_object() -> None:
    head = Head(b"HTTP/1.1 204 No\r\n\r\n", b"HTTP/1.1", {}, status=204)
    assert rewrite(head) == head.raw


_PIECES = [
    b"GET",
    b"get",
    b"FROB",
    b"CONNECT",
    b" ",
    b"  ",
    b"\t",
    b"/",
    b"/a?b=c#d",
    b"*",
    b"http://h:1/p",
    b"a:1",
    b"\xe9",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"\r\n",
    b"\n",
    b"\r",
    b"Host",
    b"host",
    b"X-A",
    b"X A",
    b":",
    b": ",
    b"v",
    b"\x00",
    b"\x01",
    b"\x7f",
    b"\xff",
    b"Content-Length",
    b"Transfer-Encoding",
    b"chunked",
    b"12",
    b",",
]


def _python_verdict(raw: bytes) -> bool:
    try:
        reject_bare_line_breaks(raw)
        parse_request_head(raw[:-4])
    except ParseError:
        return False
    return True


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map(b"".join))
def test_a_head_the_python_parser_refuses_is_refused_on_the_llhttp_path_too(body: bytes) -> None:
    for wire in (b"GET / HTTP/1.1\r\nHost: a\r\n" + body + b"\r\n\r\n", body + b"\r\n\r\n"):
        try:
            head = take(bytearray(wire), 65536)  # the head as the relay cuts it
            if head is None:
                continue
            parse_request(head)
        except ParseError:
            continue
        assert _python_verdict(head), head


def _python_response_verdict(raw: bytes) -> bool:
    try:
        reject_bare_line_breaks(raw)
        parse_response_head(raw[:-4])
    except ParseError:
        return False
    return True


_STATUS_PIECES = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b" ", b"200", b"099", b"1000", b"OK"]


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(st.sampled_from(_STATUS_PIECES + _PIECES), max_size=6).map(b"".join),
    st.lists(st.sampled_from(_PIECES), max_size=10).map(b"".join),
)
def test_a_response_head_the_python_parser_refuses_is_refused_on_the_llhttp_path_too(
    line: bytes, fields: bytes
) -> None:
    for wire in (
        b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n\r\n",
        line + b"\r\n" + fields + b"\r\n\r\n",
    ):
        try:
            head = take(bytearray(wire), 65536)
            if head is None:
                continue
            parse_response(head)
        except ParseError:
            continue
        assert _python_response_verdict(head), head
