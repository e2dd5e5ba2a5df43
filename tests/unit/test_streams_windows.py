"""Unit tests for streams.windows: per-edge counters, histograms and event-time windows."""

from __future__ import annotations

from operator import attrgetter

import pytest
from streams_events import BASE_S, make_event

from meshpipe.schemas.edgekey import edge_of
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.latency import bucket_index
from meshpipe.schemas.rows import EdgeWindowRow
from meshpipe.streams.windows import MANY_FROM, EdgeWindows, WindowSettings

NANOS = 1_000_000_000


def _rows(
    events: list[meshpipe_pb2.RequestEvent], window_s: int = 10, chunk_first: int = 0
) -> list[EdgeWindowRow]:
    windows = EdgeWindows(7, WindowSettings(window_s=window_s), bucket_index)
    for offset, event in enumerate(events, start=chunk_first):
        windows.add(offset, event, edge_of(event))
    return windows.snapshot(chunk_first)


def test_counts_requests_successes_failures_and_status_classes() -> None:
    events = [
        make_event(http_status=200),
        make_event(http_status=404),
        make_event(http_status=503),
        make_event(http_status=200, grpc_status=14),
    ]
    events[3].classification = meshpipe_pb2.FAILURE
    [row] = _rows(events)
    assert (row.requests, row.successes, row.failures) == (4, 2, 2)
    assert (row.status_4xx, row.status_5xx, row.grpc_failures) == (1, 1, 1)


def test_unclassified_event_is_classified_with_linkerd_rules() -> None:
    event = make_event(http_status=502)
    event.classification = meshpipe_pb2.CLASSIFICATION_UNKNOWN
    [row] = _rows([event])
    assert row.failures == 1


def test_sums_bytes_and_latencies() -> None:
    [row] = _rows([make_event(latency_us=100, duration_us=300), make_event(latency_us=50)])
    assert (row.request_bytes, row.response_bytes) == (20, 200)
    assert (row.latency_sum_us, row.duration_sum_us) == (150, 2300)


def test_histograms_are_sparse_on_the_shared_grid() -> None:
    [row] = _rows(
        [make_event(latency_us=1000), make_event(latency_us=1000), make_event(latency_us=90_000)]
    )
    assert row.latency_buckets == (bucket_index(1000), bucket_index(90_000))
    assert row.latency_counts == (2, 1)
    assert sum(row.duration_counts) == 3


def test_window_is_chosen_by_event_start_time() -> None:
    events = [
        make_event(start_ns=(BASE_S + 1) * NANOS),
        make_event(start_ns=(BASE_S + 12) * NANOS),
        make_event(start_ns=(BASE_S + 19) * NANOS + 999_999_999),
    ]
    rows = _rows(events)
    assert sorted((row.window_start_s, row.requests) for row in rows) == [
        (BASE_S, 1),
        (BASE_S + 10, 2),
    ]


def test_edges_are_kept_apart_with_identity_columns() -> None:
    rows = _rows([make_event(src="web", dst="emoji"), make_event(src="web", dst="voting")])
    assert sorted(row.destination_name for row in rows) == ["emoji", "voting"]
    row = rows[0]
    assert (row.direction, row.source, row.source_meshed) == (
        "out",
        "emojivoto/deployment/web",
        True,
    )
    assert (row.partition, row.window_s) == (7, 10)


def test_row_version_is_last_offset_and_key_has_chunk_first_offset() -> None:
    [row] = _rows([make_event(), make_event(), make_event()], chunk_first=40)
    assert (row.first_offset, row.version) == (40, 42)


def test_window_shorter_than_a_second_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 1 s"):
        WindowSettings(window_s=0)


@pytest.mark.parametrize("unclassified", [False, True])
def test_a_record_added_at_once_counts_what_its_events_added_one_by_one_do(
    unclassified: bool,
) -> None:
    events = [
        make_event(http_status=200, latency_us=10, seq=1),
        make_event(http_status=404, latency_us=10, seq=2),
        make_event(http_status=503, latency_us=90_000, duration_us=95_000, seq=3),
        make_event(http_status=200, grpc_status=14, seq=4),
        make_event(http_status=200, grpc_status=0, seq=5),
        make_event(http_status=0, seq=6),
        make_event(http_status=502, seq=7),
        make_event(http_status=499, latency_us=0, grpc_status=5, seq=8),  # no failure code
        make_event(http_status=200, grpc_status=4, seq=9),  # a run of MANY_FROM events or more
        make_event(http_status=200, seq=10, start_ns=(BASE_S + 10) * NANOS),  # next window
        make_event(http_status=500, seq=11, start_ns=(BASE_S + 10) * NANOS),
        make_event(http_status=200, seq=12, dst="voting"),  # another edge
        make_event(http_status=200, seq=13),  # the first key again
    ]
    events[3].classification = meshpipe_pb2.FAILURE
    events[5].reset_code = 8
    if unclassified:
        events[6].classification = meshpipe_pb2.CLASSIFICATION_UNKNOWN
    settings = WindowSettings(window_s=10)
    one_by_one = EdgeWindows(7, settings, bucket_index)
    at_once = EdgeWindows(7, settings, bucket_index)
    placed = []
    for event in events:
        edge = edge_of(event)
        one_by_one.add(0, event, edge)
        placed.append((event, edge, settings.window_start_s(event.start.ToNanoseconds())))
    at_once.add_record(0, placed)
    key = attrgetter("window_start_s", "destination")
    assert MANY_FROM <= 9
    expected = sorted(one_by_one.snapshot(0), key=key)
    assert len(expected) == 3
    assert sorted(at_once.snapshot(0), key=key) == expected
