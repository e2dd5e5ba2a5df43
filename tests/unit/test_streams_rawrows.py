"""Raw rows: a record's events added column by column are exactly the rows of request_row."""

from __future__ import annotations

import pytest
from streams_events import BASE_S, make_event

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.rows import RequestColumns, RowBatch
from meshpipe.streams.rawrows import COLUMNWISE_FROM, add_requests, request_row


def _varied(k: int) -> meshpipe_pb2.RequestEvent:
    """Events that differ in every kind of field the raw row reads (ends, peers, headers)."""
    event = make_event(
        start_ns=BASE_S * 1_000_000_000 - 1_500 + k * 333_333_777,
        seq=k + 1,
        http_status=(200, 503, 0, 404)[k % 4],
        direction=(meshpipe_pb2.OUTBOUND, meshpipe_pb2.INBOUND)[k % 2],
        grpc_status=14 if k % 5 == 1 else None,
    )
    if k % 5 == 2:
        event.reset_code = 2
    if k % 5 == 3:
        event.error.kind, event.error.message = "connect_refused", f"refused {k}"
    if k % 3 == 0:
        event.source.Clear()
        event.source.ip, event.source.port, event.source.authority = "10.0.0.9", 4000 + k, "x"
    if k % 2:
        event.request_headers.add(name="user-agent", value=f"ua-{k}")
        event.request_headers.add(name="x-id", value="")
    event.protocol = (meshpipe_pb2.HTTP1, meshpipe_pb2.GRPC, meshpipe_pb2.HTTP2, 9)[k % 4]  # type: ignore[assignment]
    event.tls = bool(k % 2)
    event.trace_id = f"{k:032x}" if k % 3 else ""
    event.classification = (meshpipe_pb2.SUCCESS, meshpipe_pb2.FAILURE, 0)[k % 3]  # type: ignore[assignment]
    event.classification_reason = f"reason {k}"
    return event


@pytest.mark.parametrize("count", [1, COLUMNWISE_FROM - 1, COLUMNWISE_FROM, 17])
def test_added_columns_hold_the_request_rows_of_the_events(count: int) -> None:
    events = [(index * 2, _varied(index)) for index in range(count)]  # positions with gaps
    rows = RequestColumns.of([request_row(3, 7, _varied(9), 0)])  # a row already there stays
    add_requests(rows, 5, 42, events)
    expected = [request_row(3, 7, _varied(9), 0)] + [
        request_row(5, 42, event, index) for index, event in events
    ]
    assert list(rows) == expected
    assert len({len(column) for column in rows.columns}) == 1


@pytest.mark.parametrize("last_pod", ["web-0", "web-1"])
def test_a_record_of_one_workload_pair_holds_its_fields_in_every_row(last_pod: str) -> None:
    events = [(index, make_event(seq=index + 1, http_status=200 + index)) for index in range(6)]
    for _, event in events:
        event.source.pod, event.destination.ip, event.destination.port = "web-0", "10.1.2.3", 80
    events[-1][1].source.pod = last_pod  # the same workload, another pod: no longer one peer
    rows = RequestColumns()
    add_requests(rows, 5, 42, events)
    assert list(rows) == [request_row(5, 42, event, index) for index, event in events]
    assert [row.source_pod for row in rows][-2:] == ["web-0", last_pod]


def test_request_columns_read_as_a_sequence_of_rows() -> None:
    rows = [request_row(1, offset, _varied(offset), offset % 2) for offset in range(5)]
    columns = RequestColumns.of(rows)
    assert len(columns) == 5
    assert columns[3] == rows[3]
    assert list(columns[1:3]) == rows[1:3]
    assert columns == rows
    assert columns != rows[:4]
    halves = RequestColumns.joined([RequestColumns.of(rows[:2]), RequestColumns.of(rows[2:])])
    assert halves == columns
    assert halves.columns == columns.columns


def test_a_batch_given_rows_holds_them_as_columns_and_joins_batches_in_order() -> None:
    rows = [request_row(1, offset, _varied(offset)) for offset in range(4)]
    first, second = RowBatch(requests=tuple(rows[:3])), RowBatch(requests=rows[3:])
    assert isinstance(first.requests, RequestColumns)
    joined = RowBatch.joined([first, RowBatch(), second])
    assert list(joined.requests) == rows
    assert first.merged(second) == joined
