"""Decodes one HPACK header block (RFC 7541) against its dynamic table, noting where each
field's representation lies and of what kind, for the relay to cut or keep bytes.

It does what hpack's Decoder does, less the generality the relay does not need (text
conversion, per-field logging, copies of the rest of the block per literal), and remembers
Huffman-coded strings and blocks already seen on the connection: most recur. A table-neutral
block means the same until the table changes; a block that refers to no dynamic entry (nginx
sends every response head as literals with incremental indexing and static names) means the same
whatever the table holds, and only its insertions are applied again.
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


_Inserting = tuple[list[Field], list[Span], list[tuple[bytes, bytes]], int]


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

    def add_all(self, entries: list[tuple[bytes, bytes]], size: int) -> None:
        """The entries added in order, their sizes (with overhead) summing to size. Evicting
        once at the end evicts what evicting after each would (always the oldest, until the
        rest fits); entries larger together than the table go one by one, as one larger than
        the table alone empties it (§4.4)."""
        if size > self.maxsize:
            for name, value in entries:
                self.add(name, value)
            return
        self.dynamic_entries.extendleft(entries)
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
        # Blocks that insert but refer to no dynamic entry: fields, spans, insertions and their
        # size in the table.
        self._static: dict[bytes, _Inserting] = {}

    def decode(self, data: bytes) -> tuple[list[Field], list[Span]]:
        """The block's fields and their representations; the table moves on.

        A block that changes nothing in the table means the same until the table changes: such
        blocks (a repeated request or response head, as indexes) are decoded once and
        remembered until the next block that changes the table. A block that refers to no
        dynamic entry means the same whatever the table: it is remembered with its insertions.
        """
        known = self._same.get(data)
        if known is not None:
            return known
        inserting = self._static.get(data)
        if inserting is not None:
            self.table.add_all(inserting[2], inserting[3])
            self._same.clear()
            return inserting[0], inserting[1]
        try:
            fields, spans, added, static = self._decode(data)
        except DecodeError:
            raise
        except Exception as exc:  # IndexError on truncation, hpack's own errors
            raise DecodeError(f"{type(exc).__name__}: {exc}") from exc
        if added is None or added:
            self._same.clear()
            if static and added:
                if len(self._static) >= _BLOCKS_KEPT:
                    self._static.clear()
                size = sum(len(n) + len(v) + _ENTRY_OVERHEAD for n, v in added)
                self._static[data] = (fields, spans, added, size)
        elif len(self._same) < _BLOCKS_KEPT:
            self._same[data] = (fields, spans)
        return fields, spans

    def _decode(
        self, data: bytes
    ) -> tuple[list[Field], list[Span], list[tuple[bytes, bytes]] | None, bool]:
        """(fields, spans, the entries inserted or None after a table size update, whether the
        block referred to the static table only)."""
        table = self.table
        added: list[tuple[bytes, bytes]] | None = []
        static = True  # no index into the dynamic table
        fields: list[Field] = []
        spans: list[Span] = []
        pos, end, listed = 0, len(data), 0
        while pos < end:
            start, first = pos, data[pos]
            if first & 0x80:
                index, pos = _integer(data, pos, 0x7F)
                name, value = table.get(index)
                static = static and index <= _STATIC_LEN
                field: Field = (name, value)
                kind = 0x80
            elif first & 0x40:
                index, pos = _integer(data, pos, 0x3F)
                if index:
                    name = table.get(index)[0]
                    static = static and index <= _STATIC_LEN
                else:
                    name, pos = self._string(data, pos)
                value, pos = self._string(data, pos)
                table.add(name, value)
                if added is not None:
                    added.append((name, value))
                field, kind = (name, value), 0x40
            elif first & 0x20:
                if fields:
                    raise DecodeError("table size update after a field")
                size, pos = _integer(data, pos, 0x1F)
                if size > self.max_allowed_table_size:
                    raise DecodeError(f"table size {size} over {self.max_allowed_table_size}")
                table.resize(size)
                added = None
                continue
            else:
                index, pos = _integer(data, pos, 0x0F)
                if index:
                    name = table.get(index)[0]
                    static = static and index <= _STATIC_LEN
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
        return fields, spans, added, static

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
