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

from hpack import Encoder, NeverIndexedHeaderTuple
from hpack.hpack import encode_integer

from meshpipe.proxy.hpack_decode import BlockDecoder, DecodeError, Field, Span
from meshpipe.proxy.http2_headers import Headers

KEEP = 0
DROP = 1
PROTECT = 2  # mark never-indexed


class BlockError(Exception):
    """A header block HPACK cannot decode: a COMPRESSION_ERROR for the connection."""


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
        self._decoder = BlockDecoder(max_header_list_size)
        self._spans: list[Span] = []  # of the block decoded last
        self._encoder: Encoder | None = None  # ours, once out of step
        self._clear = False  # the next block we encode first empties the receiver's table

    def allow_table_size(self, size: int) -> None:
        """The receiver advertised SETTINGS_HEADER_TABLE_SIZE: the sender may use that much.
        (The receiver checks its own limit; this one only bounds what we hold.)"""
        self._decoder.max_allowed_table_size = max(self._decoder.max_allowed_table_size, size)

    @property
    def in_step(self) -> bool:
        return self._encoder is None

    def decode(self, block: bytes) -> list[Field]:
        """The block's fields, as bytes (the sender's table moves on)."""
        try:
            fields, self._spans = self._decoder.decode(block)
        except DecodeError as exc:
            raise BlockError(str(exc)) from exc
        return fields

    def skip(self) -> None:
        """The block just decoded is not forwarded: the receiver's table falls behind."""
        self._leave_step()

    def forward(
        self,
        block: bytes,
        fields: Sequence[Field],
        actions: Sequence[int] | None = None,
        add: Headers = (),  # type: ignore[assignment]
    ) -> bytes:
        """The block to send for the one just decoded (fields), with per-field actions (KEEP,
        DROP, PROTECT; None: keep all) and fields appended."""
        if self._encoder is None:
            if actions is None:
                return block + b"".join(literal(n, v) for n, v in add) if add else block
            edited = self._edit_in_step(block, fields, actions)
            if edited is not None:
                return edited + b"".join(literal(n, v) for n, v in add)
            self._leave_step()
        return self._encode(fields, actions, add)

    def _edit_in_step(
        self, block: bytes, fields: Sequence[Field], actions: Sequence[int]
    ) -> bytes | None:
        """The block with the actions applied byte-wise, or None if that would change what the
        receiver's table holds."""
        reps = self._spans
        if len(reps) != len(actions):
            return None  # defensive: cannot happen for a block the decoder accepted
        out, pos = [], 0
        for i, ((start, end, kind), action) in enumerate(zip(reps, actions, strict=True)):
            if action == KEEP or (action == PROTECT and kind == 0x10):
                continue
            if kind == 0x40:
                return None  # the sender entered it into its table
            out.append(block[pos:start])
            if action == PROTECT and kind == 0x00:
                out.append(bytes((block[start] | 0x10,)) + block[start + 1 : end])
            elif action == PROTECT:  # indexed: the same field spelt out, never indexed
                out.append(literal(*fields[i], never_indexed=True))
            pos = end
        out.append(block[pos:])
        return b"".join(out)

    def _leave_step(self) -> None:
        if self._encoder is None:
            self._encoder = Encoder()
            self._clear = True

    def _encode(
        self, fields: Sequence[Field], actions: Sequence[int] | None, add: Headers
    ) -> bytes:
        encoder = self._encoder
        assert encoder is not None
        out: list[tuple[bytes, bytes, bool]] = []  # (name, value, never indexed)
        for i, field in enumerate(fields):
            action = KEEP if actions is None else actions[i]
            if action != DROP:
                # fields[i], not the loop's `field`: compiled, that local is an unboxed tuple.
                never = action == PROTECT or isinstance(fields[i], NeverIndexedHeaderTuple)
                out.append((field[0], field[1], never))
        out.extend((name, value, False) for name, value in add)
        if not out:  # nothing to send (the caller ends the stream otherwise): no table change yet
            return b""
        prefix = b""
        size = self._decoder.table.maxsize  # the sender's size: one its receiver allows
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
