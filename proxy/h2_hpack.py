"""One direction's HPACK header blocks through the relay: decoded once, forwarded as they came or
with the few changes the proxy makes, so that the receiver's dynamic table always matches what the
next forwarded block refers to (RFC 7541).

While in step, a block goes out as its own bytes: fields the proxy drops are cut out (only those
the sender did not enter into the table), fields it adds are appended as literals without
indexing, credentials are marked never-indexed. Both tables then stay equal. A change that cannot
keep them equal (dropping a field the sender indexed, or a whole block the receiver never gets)
leaves step for good: from then on every block is re-encoded by an encoder of our own whose table
mirrors the receiver's, the first one starting with a table-size update to 0 (which empties the
receiver's table) and back, so both start from nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from hpack import Decoder, Encoder, HeaderTuple
from hpack.hpack import decode_integer, encode_integer

Headers = list[tuple[bytes, bytes]]

KEEP = 0
DROP = 1
PROTECT = 2  # mark never-indexed


class BlockError(Exception):
    """A header block HPACK cannot decode: a COMPRESSION_ERROR for the connection."""


def _int(data: bytes, pos: int, prefix: int) -> int:
    """The end of an HPACK integer with that prefix starting at pos."""
    _, used = decode_integer(memoryview(data)[pos:], prefix)
    return pos + used


def _string_end(data: bytes, pos: int) -> int:
    length, used = decode_integer(memoryview(data)[pos:], 7)
    return pos + used + length


def representations(block: bytes) -> list[tuple[int, int, int]]:
    """(start, end, kind) of each field representation, in order; size updates are skipped.

    kind is the first byte's high bits: 0x80 indexed, 0x40 literal entered into the table, 0x10
    never-indexed literal, 0x00 literal without indexing. The block was decoded already, so it is
    well formed.
    """
    reps: list[tuple[int, int, int]] = []
    pos, size = 0, len(block)
    while pos < size:
        first = block[pos]
        if first & 0x80:
            reps.append((pos, _int(block, pos, 7), 0x80))
            continue_pos = reps[-1][1]
        elif first & 0x40:
            end = _int(block, pos, 6)
            if not first & 0x3F:
                end = _string_end(block, end)
            end = _string_end(block, end)
            reps.append((pos, end, 0x40))
            continue_pos = end
        elif first & 0x20:  # table size update
            continue_pos = _int(block, pos, 5)
        else:
            end = _int(block, pos, 4)
            if not first & 0x0F:
                end = _string_end(block, end)
            end = _string_end(block, end)
            reps.append((pos, end, first & 0x10))
            continue_pos = end
        pos = continue_pos
    return reps


def _string(value: bytes) -> bytes:
    head = encode_integer(len(value), 7)
    return bytes(head) + value


def literal(name: bytes, value: bytes, never_indexed: bool = False) -> bytes:
    """A field as a literal with a literal name, not entered into any table."""
    return (b"\x10" if never_indexed else b"\x00") + _string(name) + _string(value)


def static_block(headers: Headers) -> bytes:
    """A block that touches no dynamic table (for replies the proxy makes up)."""
    return b"".join(literal(name, value) for name, value in headers)


class BlockRelay:
    """The blocks one peer sends and what its receiver gets."""

    def __init__(self, max_header_list_size: int) -> None:
        self._decoder = Decoder(max_header_list_size=max_header_list_size)
        # The receiver checks its own limit; this one only bounds what we hold.
        self._decoder.max_allowed_table_size = 4096
        self._encoder: Encoder | None = None  # ours, once out of step
        self._clear = False  # the next block we encode first empties the receiver's table

    def allow_table_size(self, size: int) -> None:
        """The receiver advertised SETTINGS_HEADER_TABLE_SIZE: the sender may use that much."""
        self._decoder.max_allowed_table_size = max(self._decoder.max_allowed_table_size, size)

    @property
    def in_step(self) -> bool:
        return self._encoder is None

    def decode(self, block: bytes) -> list[HeaderTuple]:
        """The block's fields, as bytes (the sender's table moves on)."""
        try:
            return list(self._decoder.decode(block, raw=True))
        except Exception as exc:  # hpack raises several types, and IndexError/ValueError inside
            raise BlockError(f"{type(exc).__name__}: {exc}") from exc

    def skip(self) -> None:
        """The block just decoded is not forwarded: the receiver's table falls behind."""
        self._leave_step()

    def forward(
        self,
        block: bytes,
        fields: Sequence[HeaderTuple],
        actions: Sequence[int] | None = None,
        add: Headers = (),  # type: ignore[assignment]
    ) -> bytes:
        """The block to send for the one just decoded (fields), with per-field actions (KEEP,
        DROP, PROTECT; None: keep all) and fields appended."""
        if self._encoder is None:
            if actions is None:
                return block + b"".join(literal(n, v) for n, v in add) if add else block
            edited = self._edit_in_step(block, actions)
            if edited is not None:
                return edited + b"".join(literal(n, v) for n, v in add)
            self._leave_step()
        return self._encode(fields, actions, add)

    def _edit_in_step(self, block: bytes, actions: Sequence[int]) -> bytes | None:
        """The block with the actions applied byte-wise, or None if that would change what the
        receiver's table holds."""
        reps = representations(block)
        if len(reps) != len(actions):
            return None  # defensive: cannot happen for a block the decoder accepted
        out, pos = [], 0
        for (start, end, kind), action in zip(reps, actions, strict=True):
            if action == KEEP or (action == PROTECT and kind == 0x10):
                continue
            if kind == 0x40:
                return None  # the sender entered it into its table
            out.append(block[pos:start])
            if action == PROTECT and kind == 0x00:
                out.append(bytes((block[start] | 0x10,)) + block[start + 1 : end])
            elif action == PROTECT:  # indexed: the same field spelt out, never indexed
                name, value = self._decoder.header_table.get_by_index(
                    decode_integer(memoryview(block)[start:end], 7)[0]
                )
                out.append(literal(name, value, never_indexed=True))
            pos = end
        out.append(block[pos:])
        return b"".join(out)

    def _leave_step(self) -> None:
        if self._encoder is None:
            self._encoder = Encoder()
            self._clear = True

    def _encode(
        self, fields: Sequence[HeaderTuple], actions: Sequence[int] | None, add: Headers
    ) -> bytes:
        encoder = self._encoder
        assert encoder is not None
        out: list[tuple[bytes, bytes, bool]] = []  # (name, value, never indexed)
        for i, field in enumerate(fields):
            action = KEEP if actions is None else actions[i]
            if action != DROP:
                out.append((field[0], field[1], action == PROTECT or not field.indexable))
        out.extend((name, value, False) for name, value in add)
        if not out:  # nothing to send (the caller ends the stream otherwise): no table change yet
            return b""
        prefix = b""
        size = (
            self._decoder.header_table.maxsize
        )  # what the sender keeps is what the receiver allows
        if self._clear:
            self._clear = False
            zero = encode_integer(0, 5)
            zero[0] |= 0x20
            prefix = bytes(zero)
            encoder.header_table.maxsize = 0
            encoder.table_size_changes = []
            encoder.header_table_size = size
        elif encoder.header_table_size != size:
            encoder.header_table_size = size
        # Never-indexed fields stay literals (RFC 7541 §6.2.3), even where hpack's encoder would
        # refer to an equal entry of its table.
        parts = [prefix, encoder.encode([])]
        for name, value, never in out:
            parts.append(literal(name, value, True) if never else encoder.encode([(name, value)]))
        return b"".join(parts)
