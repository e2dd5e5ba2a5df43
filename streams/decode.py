"""Decoding and validating one Kafka record into requests and connection reports, or DeadLetters.

A record holds one RequestEvent, or a batch of one edge's events (schemas.eventbatch; its format
header says which). Both are RequestEvents on the requests topic; a connection report has
`connections` set and no proxy_seq (an older worker therefore dead-letters it as "missing
proxy_seq" instead of counting it as a request). A record whose bytes or format are wrong is
dead-lettered whole; an invalid event inside a good batch is dead-lettered alone, with its index,
and the batch's other events are kept. Validation is deterministic (it reads only the record,
never the wall clock), so a replay takes the same decisions and aggregation state rebuilt from
a replay is identical.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from meshpipe.schemas import eventbatch
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
    headers: tuple[tuple[str, bytes], ...] = ()


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


@dataclass(frozen=True, slots=True)
class InvalidEvent:
    """An event of a batch record that failed validation: it is dead-lettered alone."""

    index: int  # its position in the batch
    event: meshpipe_pb2.RequestEvent
    reason: str


@dataclass(frozen=True, slots=True)
class UniformRecord:
    """What validation read once for a batch record whose events are all valid requests of one
    proxy on one edge (as a sidecar's batches mostly are): the shared values, and one list per
    field the checks read, in event order, for folding to use instead of reading them again."""

    proxy_id: str
    edge: Edge
    seconds: list[int]  # each event's start, Unix seconds
    nanos: list[int]  # and its nanoseconds
    seqs: list[int]  # each event's proxy_seq


@dataclass(frozen=True, slots=True)
class RecordEvents:
    """What a decodable record holds: its valid events and its invalid ones, with positions."""

    valid: list[tuple[int, Decoded]]  # (position in the batch, the event)
    invalid: list[InvalidEvent]
    count: int  # events in the record
    uniform: UniformRecord | None = None  # set when every event is a valid request of one edge


def decode_record(record: Record, edges: EdgeMemo | None = None) -> RecordEvents:
    """Decode a record in its format and validate each event; InvalidRecordError with the reason
    when the record as a whole cannot be used (so it is dead-lettered whole). A record without
    the format header holds one event, and an invalid one fails the record, as it always did."""
    if eventbatch.record_format(record.headers) is None:
        return RecordEvents([(0, decode_event(record, edges))], [], 1)
    try:
        events = eventbatch.decode_record(record.value, record.headers)
    except eventbatch.RecordFormatError as exc:
        raise InvalidRecordError(str(exc)) from exc
    uniform = _validate_uniform(events, record.timestamp_ms, edges)
    if uniform is not None:
        edge = uniform.edge
        return RecordEvents(
            [(index, ValidEvent(event, edge)) for index, event in enumerate(events)],
            [],
            len(events),
            uniform,
        )
    valid: list[tuple[int, Decoded]] = []
    invalid: list[InvalidEvent] = []
    for index, event in enumerate(events):
        try:
            valid.append((index, validate(event, record.timestamp_ms, edges)))
        except InvalidRecordError as exc:
            invalid.append(InvalidEvent(index, event, str(exc)))
    return RecordEvents(valid, invalid, len(events))


UNIFORM_FROM = 4  # a batch of this many events or more is checked a field at a time first


def _validate_uniform(
    events: list[meshpipe_pb2.RequestEvent], timestamp_ms: int, edges: EdgeMemo | None
) -> UniformRecord | None:
    """The record's shared values when every event passes `validate` as a request of one proxy
    and one edge, checked a field at a time (one pass per field, no call per event); None when
    any check fails or the events differ, and then each event is validated on its own, which
    finds the reasons. Accepts exactly the records on which `validate` accepts every event."""
    n = len(events)
    if n < UNIFORM_FROM or edges is None:
        return None
    if True in [e.HasField("connections") for e in events]:
        return None
    proxy_ids = [e.proxy_id for e in events]
    proxy_id = proxy_ids[0]
    if not proxy_id or proxy_ids.count(proxy_id) != n:
        return None
    seqs = [e.proxy_seq for e in events]
    if 0 in seqs:
        return None
    # An unset start reads as 0 seconds, which fails the lower bound as `_check_start` does.
    starts = [e.start for e in events]
    seconds = [s.seconds for s in starts]
    nanos = [s.nanos for s in starts]
    if min(seconds) < MIN_START_S or min(nanos) < 0 or max(nanos) > MAX_NANOS:
        return None
    if timestamp_ms > 0 and max(seconds) > timestamp_ms // 1000 + MAX_FUTURE_SKEW_S:
        return None
    latencies = [e.latency_us for e in events]
    durations = [e.duration_us for e in events]
    if True in [bool(dur) and lat > dur for lat, dur in zip(latencies, durations, strict=True)]:
        return None
    first = events[0]
    directions = [e.direction for e in events]
    sources = [e.source for e in events]
    destinations = [e.destination for e in events]
    if (
        directions.count(first.direction) != n
        or sources.count(sources[0]) != n
        or destinations.count(destinations[0]) != n
    ):
        return None
    try:
        edge = edges.edge(first)  # makes first's kinds canonical
    except InvalidRecordError:
        return None
    for peers, kind in ((sources, first.source.kind), (destinations, first.destination.kind)):
        if peers[-1].kind != kind:
            for workload in peers:
                workload.kind = kind
    return UniformRecord(proxy_id, edge, seconds, nanos, seqs)


def decode_event(record: Record, edges: EdgeMemo | None = None) -> Decoded:
    """Decode and validate a one-event record; raise InvalidRecordError with the reason
    otherwise."""
    if not record.value:
        raise InvalidRecordError("empty value")
    event = meshpipe_pb2.RequestEvent()
    try:
        event.ParseFromString(record.value)
    except DecodeError as exc:
        raise InvalidRecordError(f"undecodable: {exc}") from exc
    return validate(event, record.timestamp_ms, edges)


def validate(
    event: meshpipe_pb2.RequestEvent, timestamp_ms: int, edges: EdgeMemo | None = None
) -> Decoded:
    """The event with its edge when it passes validation; InvalidRecordError otherwise.
    With `edges`, identities already seen are not parsed again."""
    report = event.HasField("connections")
    _check_sender(event, report)
    _check_start(event, timestamp_ms)
    if not report and event.duration_us and event.latency_us > event.duration_us:
        raise InvalidRecordError(
            f"latency_us {event.latency_us} exceeds duration_us {event.duration_us}"
        )
    edge = _edge(event) if edges is None else edges.edge(event)
    return ValidReport(event, edge) if report else ValidEvent(event, edge)


def _edge(event: meshpipe_pb2.RequestEvent) -> Edge:
    """The event's edge, after making its kinds canonical; InvalidRecordError for a bad one."""
    _canonical_kinds(event)
    try:
        return edge_of(event)
    except IdentityError as exc:
        raise InvalidRecordError(f"bad workload identity: {exc}") from exc


_PeerKey = tuple[str, str, str] | tuple[str, int, str, None]
_Known = tuple[str, str, Edge] | str  # canonical source and destination kinds, edge; or reason


def _peer_key(workload: meshpipe_pb2.Workload) -> _PeerKey:
    """The fields of a Workload its part of the edge depends on (schemas.identity.peer_of)."""
    if workload.namespace or workload.kind or workload.name:
        return (workload.namespace, workload.kind, workload.name)
    return (workload.ip, workload.port, workload.authority, None)


class EdgeMemo:
    """Edges (and canonical kinds) already computed, by the identity fields they come from.

    The events of an edge, all of a batch record's among them, name the same workloads, so
    the identity is parsed and checked once per edge instead of once per event. The result is
    a pure function of those fields, refusals included; the memo is cleared when it is full.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._max_entries = max_entries
        self._known: dict[tuple[int, _PeerKey, _PeerKey], _Known] = {}

    def edge(self, event: meshpipe_pb2.RequestEvent) -> Edge:
        """What `_edge(event)` returns (kinds made canonical in the event), from the memo."""
        source, destination = event.source, event.destination
        key = (event.direction, _peer_key(source), _peer_key(destination))
        known = self._known.get(key)
        if known is None:
            known = self._compute(event)
            if len(self._known) >= self._max_entries:
                self._known.clear()
            self._known[key] = known
        if isinstance(known, str):
            raise InvalidRecordError(known)
        source_kind, destination_kind, edge = known
        if source.kind != source_kind:
            source.kind = source_kind
        if destination.kind != destination_kind:
            destination.kind = destination_kind
        return edge

    @staticmethod
    def _compute(event: meshpipe_pb2.RequestEvent) -> _Known:
        probe = meshpipe_pb2.RequestEvent(
            direction=event.direction, source=event.source, destination=event.destination
        )
        try:
            edge = _edge(probe)
        except InvalidRecordError as exc:
            return str(exc)
        return probe.source.kind, probe.destination.kind, edge


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


def event_dead_letter(
    record: Record, invalid: InvalidEvent, worker: str, failed_ns: int
) -> meshpipe_pb2.DeadLetter:
    """The dead letter for one invalid event of a batch record: that event alone."""
    letter = dead_letter(record, invalid.reason, worker, failed_ns)
    letter.value = invalid.event.SerializeToString()
    letter.batch_index = invalid.index
    return letter
