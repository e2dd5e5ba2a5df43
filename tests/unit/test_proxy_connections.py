"""Open connections per edge (proxy.connections): counted as connections come, learn their peer
from real HTTP/1 exchanges and go, and reported with the edge's Kafka key."""

from __future__ import annotations

from proxy_trace import LOCAL, Trace, context

from meshpipe.proxy.connections import IDLE_REPORTS, ConnectionGauges
from meshpipe.proxy.http1 import Http1Relay
from meshpipe.proxy.layer import Address, LayerContext
from meshpipe.schemas.edgekey import edge_key, parse_edge_key
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

NOW = 1_800_000_000.0
VOTE_BOT = b"emojivoto/deployment/vote-bot/vb-1"
GET = b"GET /api/list HTTP/1.1\r\nHost: web:8080\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CLIENT_EDGE = "in|ip=10.0.0.7|emojivoto/deployment/web"
BOT_EDGE = "in|emojivoto/deployment/vote-bot|emojivoto/deployment/web"


def _exchange(
    ctx: LayerContext, extra: bytes = b"", response: bytes = OK
) -> meshpipe_pb2.RequestEvent:
    """The event of one real HTTP/1 request on a connection of ctx (extra: request headers)."""
    trace = Trace(Http1Relay(ctx))
    trace.down(GET.replace(b"\r\n\r\n", b"\r\n" + extra + b"\r\n\r\n") if extra else GET)
    trace.connected()
    trace.up(response)
    [event] = trace.events()
    return event


def _by_edge(reports: list[meshpipe_pb2.RequestEvent]) -> dict[str, tuple[int, int, int]]:
    return {
        str(parse_edge_key(edge_key(r))): (
            r.connections.open,
            r.connections.opened,
            r.connections.closed,
        )
        for r in reports
    }


def test_an_accepted_connection_counts_on_the_edge_its_addresses_show() -> None:
    gauges = ConnectionGauges("proxy-1", LOCAL)
    gauges.opened("c1", context())
    gauges.opened("c2", context())
    assert _by_edge(gauges.report(NOW)) == {CLIENT_EDGE: (2, 2, 0)}


def test_a_connection_moves_to_the_edge_its_first_request_names() -> None:
    gauges = ConnectionGauges("proxy-1", LOCAL)
    ctx = context()
    gauges.opened("c1", ctx)
    gauges.requested("c1", _exchange(ctx, b"meshpipe-src: " + VOTE_BOT))
    # opened counts where the connection began; the gauge follows the connection
    assert _by_edge(gauges.report(NOW)) == {CLIENT_EDGE: (0, 1, 0), BOT_EDGE: (1, 0, 0)}
    gauges.closed("c1")
    assert _by_edge(gauges.report(NOW + 10)) == {CLIENT_EDGE: (0, 0, 0), BOT_EDGE: (0, 0, 1)}


def test_a_connection_counts_once_on_the_edge_of_its_latest_request() -> None:
    gauges = ConnectionGauges("proxy-1", LOCAL)
    ctx = context()
    gauges.opened("c1", ctx)
    for _ in range(3):
        gauges.requested("c1", _exchange(ctx, b"meshpipe-src: " + VOTE_BOT))
    assert gauges.open_on(parse_edge_key(BOT_EDGE.encode())) == 1
    # a header that names nobody: that request's event, and so the connection, is unmeshed
    gauges.requested("c1", _exchange(ctx, b"meshpipe-src: not/a-valid//header"))
    assert _by_edge(gauges.report(NOW)) == {CLIENT_EDGE: (1, 1, 0), BOT_EDGE: (0, 0, 0)}


def test_explicit_outbound_moves_from_an_unknown_destination_to_the_one_that_answered() -> None:
    gauges = ConnectionGauges("proxy-1", LOCAL)
    ctx = context(direction=meshpipe_pb2.OUTBOUND, target=None)
    gauges.opened("c1", ctx)
    assert _by_edge(gauges.report(NOW)) == {"out|emojivoto/deployment/web|unknown": (1, 1, 0)}
    answered = OK.replace(b"\r\n\r\n", b"\r\nmeshpipe-dst: emojivoto/deployment/emoji/e-1\r\n\r\n")
    outbound = context(direction=meshpipe_pb2.OUTBOUND, target=Address("10.0.0.9", 8080))
    gauges.requested("c1", _exchange(outbound, response=answered))
    assert _by_edge(gauges.report(NOW + 10))[
        "out|emojivoto/deployment/web|emojivoto/deployment/emoji"
    ] == (1, 0, 0)


def test_counts_start_over_at_each_report_while_the_gauge_stays() -> None:
    gauges = ConnectionGauges("proxy-1", LOCAL)
    gauges.opened("c1", context())
    gauges.opened("c2", context())
    gauges.closed("c1")
    assert _by_edge(gauges.report(NOW)) == {CLIENT_EDGE: (1, 2, 1)}
    assert _by_edge(gauges.report(NOW + 10)) == {CLIENT_EDGE: (1, 0, 0)}


def test_an_idle_edge_is_reported_as_zero_for_a_minute_then_forgotten() -> None:
    gauges = ConnectionGauges("proxy-1", LOCAL)
    gauges.opened("c1", context())
    gauges.closed("c1")
    reports = [_by_edge(gauges.report(NOW + 10 * i)) for i in range(IDLE_REPORTS + 3)]
    assert reports[0] == {CLIENT_EDGE: (0, 1, 1)}
    assert reports[1 : IDLE_REPORTS + 1] == [{CLIENT_EDGE: (0, 0, 0)}] * IDLE_REPORTS
    assert reports[IDLE_REPORTS + 1 :] == [{}, {}]


def test_closing_an_unknown_connection_changes_nothing() -> None:
    gauges = ConnectionGauges("proxy-1", LOCAL)
    gauges.closed("never-opened")
    gauges.requested("never-opened", _exchange(context()))
    assert gauges.report(NOW) == []


def test_a_report_lands_with_the_edges_requests_and_names_only_the_proxys_own_pod() -> None:
    gauges = ConnectionGauges("proxy-1", LOCAL)
    ctx = context()
    event = _exchange(ctx, b"meshpipe-src: " + VOTE_BOT)
    gauges.opened("c1", ctx)
    gauges.requested("c1", event)
    [report] = [r for r in gauges.report(NOW) if r.connections.open]
    assert edge_key(report) == edge_key(event)  # same Kafka key: same partition as its requests
    assert (report.proxy_id, report.proxy_seq, report.id) == ("proxy-1", 0, b"")
    assert report.start.ToNanoseconds() == int(NOW * 1_000_000_000)
    assert report.HasField("connections")
    assert (report.destination.pod, report.destination.meshed) == (LOCAL.pod, True)
    assert (report.source.name, report.source.pod, report.source.ip) == ("vote-bot", "", "")
    assert report.protocol == meshpipe_pb2.PROTOCOL_UNKNOWN
    assert not report.path
