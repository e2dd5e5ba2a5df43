"""Decoding and validating one Kafka record into a request or a connection report, or a DeadLetter.

Both are RequestEvents on the requests topic; a connection report has `connections` set and no
proxy_seq (an older worker therefore dead-letters it as "missing proxy_seq" instead of counting
it as a request). Validation is deterministic (it reads only the record, never the wall clock),
so a replay takes the same decisions and aggregation state rebuilt from a replay is identical.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from meshpipe.schemas.edgekey import Edge, edge_of
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import IdentityError
from meshpipe.schemas.kinds import canonical

NANOS = 1_000_000_000
MAX_NANOS = NANOS - 1
MIN_START_S = 946_684_800  # 2000-01-01: anything earlier is a zero or garbage clock
MAX_FUTURE_SKEW_S = 3600  # start may be this far after the record's Kafka timestamp


@dataclass(frozen=True, slots=True)
class Record:
    """What the worker took from Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int  # the record's Kafka timestamp (create or log-append time), Unix ms


@dataclass(frozen=True, slots=True)
class ValidEvent:
    """A decoded event that passed validation, with its edge."""

    event: meshpipe_pb2.RequestEvent
    edge: Edge


@dataclass(frozen=True, slots=True)
class ValidReport:
    """A decoded connection report that passed validation, with its edge."""

    event: meshpipe_pb2.RequestEvent  # `connections` is set
    edge: Edge


Decoded = ValidEvent | ValidReport


class InvalidRecordError(ValueError):
    """A record that cannot be processed; the message is the dead-letter reason."""


def decode_event(record: Record) -> Decoded:
    """Decode and validate a record; raise InvalidRecordError with the reason otherwise."""
    if not record.value:
        raise InvalidRecordError("empty value")
    event = meshpipe_pb2.RequestEvent()
    try:
        event.ParseFromString(record.value)
    except DecodeError as exc:
        raise InvalidRecordError(f"undecodable: {exc}") from exc
    report = event.HasField("connections")
    _check_sender(event, report)
    _check_start(event, record.timestamp_ms)
    if not report and event.duration_us and event.latency_us > event.duration_us:
        raise InvalidRecordError(
            f"latency_us {event.latency_us} exceeds duration_us {event.duration_us}"
        )
    _canonical_kinds(event)
    try:
        edge = edge_of(event)
    except IdentityError as exc:
        raise InvalidRecordError(f"bad workload identity: {exc}") from exc
    return ValidReport(event, edge) if report else ValidEvent(event, edge)


def _canonical_kinds(event: meshpipe_pb2.RequestEvent) -> None:
    """Kinds as the resource grammar names them, whatever the proxy wrote (`deploy` from an
    older proxy's --workload): raw rows, loss rows, reports and tap then agree with the edges."""
    for workload in (event.source, event.destination):
        if workload.kind:
            workload.kind = canonical(workload.kind) or workload.kind


def _check_sender(event: meshpipe_pb2.RequestEvent, report: bool) -> None:
    if not event.proxy_id:
        raise InvalidRecordError("missing proxy_id")
    if report and event.proxy_seq != 0:
        raise InvalidRecordError(
            f"connection report with proxy_seq {event.proxy_seq} (reports take none)"
        )
    if not report and event.proxy_seq == 0:
        raise InvalidRecordError("missing proxy_seq (sequences start at 1)")


def _check_start(event: meshpipe_pb2.RequestEvent, timestamp_ms: int) -> None:
    if not event.HasField("start"):
        raise InvalidRecordError("missing start timestamp")
    start = event.start
    if start.seconds < MIN_START_S or not 0 <= start.nanos <= MAX_NANOS:
        raise InvalidRecordError(f"bad start timestamp {start.seconds}s {start.nanos}ns")
    if timestamp_ms > 0 and start.seconds > timestamp_ms // 1000 + MAX_FUTURE_SKEW_S:
        raise InvalidRecordError(
            f"start {start.seconds}s is more than {MAX_FUTURE_SKEW_S}s after the record's "
            f"timestamp {timestamp_ms // 1000}s"
        )


def dead_letter(
    record: Record, reason: str, worker: str, failed_ns: int
) -> meshpipe_pb2.DeadLetter:
    """The dead letter for a record that could not be processed."""
    letter = meshpipe_pb2.DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key or b"",
        value=record.value or b"",
        reason=reason,
        worker=worker,
    )
    letter.failed.FromNanoseconds(failed_ns)
    return letter
