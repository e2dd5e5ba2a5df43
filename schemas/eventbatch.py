"""The record format of the requests topic: one edge's RequestEvents batched into one record.

A record's format is named by its `meshpipe-format` header, never guessed from its bytes:

- no such header: the value is one serialised `RequestEvent` (what proxies before the batch
  format sent; workers and `meshtap --since` still read it);
- `request-batch/1`: the value is a serialised `RequestEventBatch`, the events of the record's
  key (one edge) in the order the proxy queued them; a batch holds at least one event;
- anything else: a format this reader does not know (the record is dead-lettered whole).

The proxy writes a batch as the concatenation of its already serialised events, each behind the
tag of `RequestEventBatch.events` and its length: byte for byte what protobuf would write for the
message, without copying the events into one first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from google.protobuf.message import DecodeError

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

FORMAT_HEADER = "meshpipe-format"
BATCH_V1 = b"request-batch/1"
BATCH_HEADERS: tuple[tuple[str, bytes], ...] = ((FORMAT_HEADER, BATCH_V1),)
MAX_EVENTS = 256  # events per record at most
MAX_BYTES = 256 * 1024  # serialised events per record at most, bytes (one bigger event goes alone)
_EVENTS_TAG = b"\x0a"  # RequestEventBatch.events: field 1, length-delimited

Headers = Sequence[tuple[str, bytes]]


class RecordFormatError(ValueError):
    """A record whose format is unknown, or whose value does not decode in its format."""


def encode_batch(events: Iterable[bytes]) -> bytes:
    """The value of a `request-batch/1` record holding these serialised RequestEvents."""
    parts: list[bytes] = []
    for event in events:
        parts += (_EVENTS_TAG, _varint(len(event)), event)
    return b"".join(parts)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def record_format(headers: Headers | None) -> bytes | None:
    """The record's `meshpipe-format` header value; None when it has none (one event)."""
    for name, value in headers or ():
        if name == FORMAT_HEADER:
            return bytes(value)
    return None


def decode_batch(value: bytes | None) -> list[meshpipe_pb2.RequestEvent]:
    """The events of a `request-batch/1` value; RecordFormatError when it does not decode."""
    if not value:
        raise RecordFormatError("empty batch")
    batch = meshpipe_pb2.RequestEventBatch()
    try:
        batch.ParseFromString(value)
    except DecodeError as exc:
        raise RecordFormatError(f"undecodable batch: {exc}") from exc
    if not batch.events:
        raise RecordFormatError("batch without events")
    return list(batch.events)


def decode_record(value: bytes | None, headers: Headers | None) -> list[meshpipe_pb2.RequestEvent]:
    """Every RequestEvent of a requests-topic record, in either format (no validation beyond
    decoding); RecordFormatError for an unknown format or bytes that do not decode."""
    form = record_format(headers)
    if form == BATCH_V1:
        return decode_batch(value)
    if form is not None:
        raise RecordFormatError(f"unknown record format {form!r}")
    if not value:
        raise RecordFormatError("empty value")
    try:
        return [meshpipe_pb2.RequestEvent.FromString(value)]
    except DecodeError as exc:
        raise RecordFormatError(f"undecodable: {exc}") from exc


def split_batches(events: Sequence[bytes], max_events: int, max_bytes: int) -> list[list[bytes]]:
    """Consecutive runs of serialised events, each within max_events and (unless one event
    alone is larger) max_bytes of event bytes: the records one key's events become."""
    runs: list[list[bytes]] = []
    run: list[bytes] = []
    size = 0
    for event in events:
        if run and (len(run) >= max_events or size + len(event) > max_bytes):
            runs.append(run)
            run, size = [], 0
        run.append(event)
        size += len(event)
    if run:
        runs.append(run)
    return runs
