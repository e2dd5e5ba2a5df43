"""Admin endpoint content: Linkerd metric names from events, readiness, routing."""

from __future__ import annotations

from meshpipe.proxy.admin import AdminApp, PipelineStats, ProxyMetrics
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2


def metrics() -> ProxyMetrics:
    return ProxyMetrics(lambda: PipelineStats(published=7, dropped=3, depth=2))


def http_event(status: int, latency_us: int) -> meshpipe_pb2.RequestEvent:
    ev = meshpipe_pb2.RequestEvent(
        direction=meshpipe_pb2.INBOUND,
        protocol=meshpipe_pb2.HTTP1,
        authority="web:8080",
        http_status=status,
        latency_us=latency_us,
        classification=meshpipe_pb2.FAILURE if status >= 500 else meshpipe_pb2.SUCCESS,
    )
    ev.destination.ip, ev.destination.port = "127.0.0.1", 8080
    return ev


def test_events_become_request_response_and_latency_series() -> None:
    m = metrics()
    m.observe(http_event(200, 3_500))
    m.observe(http_event(503, 40_000))
    text = m.render().decode()
    labels = 'authority="web:8080",direction="inbound",target_addr="127.0.0.1:8080",tls="false"'
    assert f"request_total{{{labels}}} 2.0" in text
    assert 'classification="failure"' in text
    assert 'status_code="503"' in text
    bucket = 'authority="web:8080",direction="inbound",le="5.0",status_code="200"'
    assert (
        f'response_latency_ms_bucket{{{bucket},target_addr="127.0.0.1:8080",tls="false"}} 1.0'
        in text
    )


def test_latency_buckets_are_cumulative_with_count_and_sum_across_requests() -> None:
    m = metrics()
    for latency_us in (700, 3_500, 3_900, 250_000, 90_000_000):
        m.observe(http_event(200, latency_us))
    m.observe(http_event(503, 1_000))  # another series: not in the 200 histogram
    text = m.render().decode()
    labels = 'authority="web:8080",direction="inbound"'
    rest = 'status_code="200",target_addr="127.0.0.1:8080",tls="false"'
    for le, count in (("1.0", 1), ("3.0", 1), ("4.0", 3), ("300.0", 4), ("50000.0", 4)):
        assert f'response_latency_ms_bucket{{{labels},le="{le}",{rest}}} {count}.0' in text
    assert f'response_latency_ms_bucket{{{labels},le="+Inf",{rest}}} 5.0' in text
    assert f"response_latency_ms_count{{{labels},{rest}}} 5.0" in text
    assert f"response_latency_ms_sum{{{labels},{rest}}} 90258.1" in text
    assert f'request_total{{{labels},target_addr="127.0.0.1:8080",tls="false"}} 6.0' in text


def test_pipeline_counters_are_read_at_scrape_time() -> None:
    text = metrics().render().decode()
    assert "events_published_total 7.0" in text
    assert "events_dropped_total 3.0" in text
    assert "event_queue_depth 2.0" in text


def test_open_connections_gauge_follows_open_and_close() -> None:
    m = metrics()
    m.connection_opened(meshpipe_pb2.OUTBOUND)
    m.connection_opened(meshpipe_pb2.OUTBOUND)
    m.connection_closed(meshpipe_pb2.OUTBOUND)
    assert 'tcp_open_connections{direction="outbound"} 1.0' in m.render().decode()


def test_opaque_connections_count_as_tcp_closes_not_requests() -> None:
    m = metrics()
    m.observe(meshpipe_pb2.RequestEvent(protocol=meshpipe_pb2.OPAQUE_TCP, direction=1))
    text = m.render().decode()
    assert 'tcp_close_total{classification="failure",direction="inbound"} 1.0' in text
    assert "request_total{" not in text


def test_ready_answers_503_until_ready() -> None:
    state = {"ready": False}
    app = AdminApp(metrics(), lambda: state["ready"])
    assert app.respond("GET", "/ready").status == 503
    state["ready"] = True
    assert app.respond("GET", "/ready").status == 200
    assert app.respond("GET", "/live").status == 200
    assert app.respond("GET", "/nope").status == 404
    assert app.respond("POST", "/metrics").status == 405


def test_answer_waits_for_a_whole_head_then_replies_and_closes() -> None:
    app = AdminApp(metrics(), lambda: True)
    buffer = bytearray(b"GET /live HTTP/1.1\r\n")
    assert app.answer(buffer) is None
    buffer += b"Host: a\r\n\r\n"
    assert app.answer(buffer) == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n"
        b"connection: close\r\n\r\nlive\n"
    )


def test_answer_to_garbage_is_a_400() -> None:
    reply = AdminApp(metrics(), lambda: True).answer(bytearray(b"\x00\x01\r\n\r\n"))
    assert reply is not None
    assert reply.startswith(b"HTTP/1.1 400 Error\r\n")
