"""Decodes one HPACK header block (RFC 7541) against its dynamic table, noting where each
field's representation lies and of what kind, for the relay to cut or keep bytes.

It does what hpack's Decoder does, less the generality the relay does not need (text
conversion, per-field logging, copies of the rest of the block per literal), and remembers
Huffman-coded strings and table-neutral blocks already seen on the connection: most recur.
"""

from __future__ import annotations

from collections import deque

from hpack import InvalidTableIndex, NeverIndexedHeaderTuple
from hpack.huffman_table import decode_huffman
from hpack.table import HeaderTable

Field = tuple[bytes, bytes]  # a NeverIndexedHeaderTuple when the sender said never index it
Span = tuple[int, int, int]  # (start, end, kind): kind 0x80, 0x40, 0x10 or 0x00 (first bits)

_ENTRY_OVERHEAD = 32  # RFC 7541 §4.1
_MAX_INT_BYTES = 5  # enough for a 32-bit value after the prefix, as hpack allows
_HUFFMAN_KEPT = 512
_BLOCKS_KEPT = 64


_STATIC = HeaderTable.STATIC_TABLE
_STATIC_LEN = len(_STATIC)


class Table:
    """The dynamic table (RFC 7541 §2.3.2, §4) behind the static one: hpack's HeaderTable
    without its per-entry logging and size helpers, entries newest first."""

    __slots__ = ("dynamic_entries", "maxsize", "size")

    def __init__(self) -> None:
        self.dynamic_entries: deque[tuple[bytes, bytes]] = deque()
        self.maxsize = 4096  # RFC 7541 §4.2: SETTINGS_HEADER_TABLE_SIZE's initial value
        self.size = 0

    def get(self, index: int) -> tuple[bytes, bytes]:
        if 0 < index <= _STATIC_LEN:
            return _STATIC[index - 1]
        index -= _STATIC_LEN + 1
        if 0 <= index < len(self.dynamic_entries):
            return self.dynamic_entries[index]
        raise InvalidTableIndex(f"Invalid table index {index + _STATIC_LEN + 1}")

    def add(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + _ENTRY_OVERHEAD
        if size > self.maxsize:  # an entry larger than the table empties it (§4.4)
            self.dynamic_entries.clear()
            self.size = 0
            return
        self.dynamic_entries.appendleft((name, value))
        self.size += size
        self._shrink()

    def resize(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._shrink()

    def _shrink(self) -> None:
        entries, size = self.dynamic_entries, self.size
        while size > self.maxsize:
            name, value = entries.pop()
            size -= len(name) + len(value) + _ENTRY_OVERHEAD
        self.size = size


class DecodeError(Exception):
    """The block is not valid HPACK (or breaks a limit): a COMPRESSION_ERROR."""


class BlockDecoder:
    """The receiving side of one direction's HPACK context."""

    def __init__(self, max_header_list_size: int) -> None:
        self.table = Table()
        self.max_allowed_table_size = self.table.maxsize
        self.max_header_list_size = max_header_list_size
        self._huffman: dict[bytes, bytes] = {}
        self._same: dict[bytes, tuple[list[Field], list[Span]]] = {}

    def decode(self, data: bytes) -> tuple[list[Field], list[Span]]:
        """The block's fields and their representations; the table moves on.

        A block that changes nothing in the table means the same until the table changes: such
        blocks (a repeated request or response head, as indexes) are decoded once and
        remembered until the next block that changes the table.
        """
        known = self._same.get(data)
        if known is not None:
            return known
        try:
            fields, spans, changed = self._decode(data)
        except DecodeError:
            raise
        except Exception as exc:  # IndexError on truncation, hpack's own errors
            raise DecodeError(f"{type(exc).__name__}: {exc}") from exc
        if changed:
            self._same.clear()
        elif len(self._same) < _BLOCKS_KEPT:
            self._same[data] = (fields, spans)
        return fields, spans

    def _decode(self, data: bytes) -> tuple[list[Field], list[Span], bool]:
        table = self.table
        changed = False  # the table: an entry added or a size update
        fields: list[Field] = []
        spans: list[Span] = []
        pos, end, listed = 0, len(data), 0
        while pos < end:
            start, first = pos, data[pos]
            if first & 0x80:
                index, pos = _integer(data, pos, 0x7F)
                name, value = table.get(index)
                field: Field = (name, value)
                kind = 0x80
            elif first & 0x40:
                index, pos = _integer(data, pos, 0x3F)
                if index:
                    name = table.get(index)[0]
                else:
                    name, pos = self._string(data, pos)
                value, pos = self._string(data, pos)
                table.add(name, value)
                changed = True
                field, kind = (name, value), 0x40
            elif first & 0x20:
                if fields:
                    raise DecodeError("table size update after a field")
                size, pos = _integer(data, pos, 0x1F)
                if size > self.max_allowed_table_size:
                    raise DecodeError(f"table size {size} over {self.max_allowed_table_size}")
                table.resize(size)
                changed = True
                continue
            else:
                index, pos = _integer(data, pos, 0x0F)
                if index:
                    name = table.get(index)[0]
                else:
                    name, pos = self._string(data, pos)
                value, pos = self._string(data, pos)
                kind = first & 0x10
                field = (name, value)
            listed += len(name) + len(value) + _ENTRY_OVERHEAD
            if listed > self.max_header_list_size:
                raise DecodeError(f"header list over {self.max_header_list_size} bytes")
            if kind == 0x10:
                # Made in the list, never held in `field`: compiled (mypyc), a local typed as a
                # tuple is unboxed, and would come back a plain tuple without the mark.
                fields.append(NeverIndexedHeaderTuple(name, value))
            else:
                fields.append(field)
            spans.append((start, pos, kind))
        return fields, spans, changed

    def _string(self, data: bytes, pos: int) -> tuple[bytes, int]:
        huffman = data[pos] & 0x80
        length, pos = _integer(data, pos, 0x7F)
        stop = pos + length
        if stop > len(data):
            raise DecodeError("truncated string")
        raw = data[pos:stop]
        if not huffman:
            return raw, stop
        text = self._huffman.get(raw)
        if text is None:
            text = decode_huffman(raw)
            if len(self._huffman) >= _HUFFMAN_KEPT:
                self._huffman.clear()
            self._huffman[raw] = text
        return text, stop


def _integer(data: bytes, pos: int, mask: int) -> tuple[int, int]:
    """An HPACK integer whose prefix is the mask's bits of data[pos]; (value, next position)."""
    value = data[pos] & mask
    pos += 1
    if value < mask:
        return value, pos
    shift = 0
    for _ in range(_MAX_INT_BYTES):
        byte = data[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise DecodeError("integer representation too long")
