"""Header blocks through the relay: forwarded as they came while possible, edited byte-wise, and
re-encoded once a change would leave the receiver's table behind. Every check decodes what the
receiver gets with a fresh hpack Decoder, as the peer would."""

from __future__ import annotations

import pytest
from hpack import Decoder, Encoder, NeverIndexedHeaderTuple
from hypothesis import given
from hypothesis import strategies as st

from meshpipe.proxy.h2_hpack import DROP, KEEP, PROTECT, BlockRelay, literal
from meshpipe.proxy.hpack_decode import BlockDecoder, DecodeError, Table

Headers = list[tuple[bytes, bytes]]


class Pair:
    """A sender's encoder, the relay's view of its blocks, and the receiver's decoder."""

    def __init__(self) -> None:
        self.sender = Encoder()
        self.relay = BlockRelay(65_536)
        self.receiver = Decoder()

    def send(
        self,
        block: bytes,
        actions: list[int] | None = None,
        add: Headers | None = None,
    ) -> list[tuple[bytes, bytes, bool]]:
        fields = self.relay.decode(block)
        out = self.relay.forward(block, fields, actions, add or [])
        return [(n, v, h.indexable) for h in self.receiver.decode(out, raw=True) for n, v in [h]]


def _names(got: list[tuple[bytes, bytes, bool]]) -> list[bytes]:
    return [n for n, _, _ in got]


def test_an_unchanged_block_goes_out_as_the_same_bytes() -> None:
    p = Pair()
    block = p.sender.encode([(b":method", b"GET"), (b"x-a", b"1")])
    fields = p.relay.decode(block)
    assert p.relay.forward(block, fields) is block
    assert p.relay.in_step


def test_an_appended_field_is_a_literal_that_touches_no_table() -> None:
    p = Pair()
    for _ in range(3):
        got = p.send(p.sender.encode([(b"x-a", b"1")]), add=[(b"meshpipe-src", b"me")])
        assert got == [(b"x-a", b"1", True), (b"meshpipe-src", b"me", True)]
    assert p.relay.in_step
    assert len(p.receiver.header_table.dynamic_entries) == 1  # x-a only


def test_dropping_a_field_the_sender_did_not_index_keeps_the_tables_in_step() -> None:
    p = Pair()
    for i in range(3):
        block = p.sender.encode([(b"x-a", b"%d" % i)]) + literal(b"meshpipe-src", b"peer")
        block += p.sender.encode([(b"x-b", b"2")])
        got = p.send(block, [KEEP, DROP, KEEP])
        assert got == [(b"x-a", b"%d" % i, True), (b"x-b", b"2", True)]
    assert p.relay.in_step


def test_dropping_an_indexed_field_reencodes_and_later_blocks_still_decode() -> None:
    p = Pair()
    first = p.sender.encode([(b"meshpipe-src", b"peer"), (b"x-a", b"1")])
    assert p.send(first, [DROP, KEEP]) == [(b"x-a", b"1", True)]
    assert not p.relay.in_step
    # The sender's next block refers to its table, where meshpipe-src sits at index 63.
    second = p.sender.encode([(b"x-a", b"1"), (b"meshpipe-src", b"peer"), (b"x-c", b"3")])
    assert p.send(second, [KEEP, DROP, KEEP]) == [(b"x-a", b"1", True), (b"x-c", b"3", True)]
    assert p.send(p.sender.encode([(b"x-c", b"3")])) == [(b"x-c", b"3", True)]


def test_a_skipped_block_leaves_the_receiver_behind_and_the_next_one_still_decodes() -> None:
    p = Pair()
    p.relay.decode(p.sender.encode([(b"x-a", b"never seen")]))
    p.relay.skip()
    block = p.sender.encode([(b"x-a", b"never seen"), (b"x-b", b"2")])
    assert p.send(block) == [(b"x-a", b"never seen", True), (b"x-b", b"2", True)]


def test_credentials_reach_the_receiver_never_indexed_however_they_were_sent() -> None:
    p = Pair()
    as_literal = literal(b"authorization", b"secret")
    assert p.send(as_literal, [PROTECT]) == [(b"authorization", b"secret", False)]
    assert p.relay.in_step  # a bit flipped, nothing else
    indexed = p.sender.encode([(b"cookie", b"a=1")])  # entered into the sender's table
    assert p.send(indexed, [PROTECT]) == [(b"cookie", b"a=1", False)]
    again = p.sender.encode([(b"cookie", b"a=1")])  # now a one-byte index
    assert p.send(again, [PROTECT]) == [(b"cookie", b"a=1", False)]
    assert all(name != b"cookie" for name, _ in p.receiver.header_table.dynamic_entries)


def test_spans_cover_the_block_and_say_which_fields_are_indexed() -> None:
    enc = Encoder()
    block = enc.encode([(b":method", b"GET"), (b"x-a", b"1")])  # static index, then literal
    block += literal(b"x-b", b"2") + literal(b"x-c", b"3", never_indexed=True)
    block += enc.encode([(b"x-a", b"1")])  # now from the dynamic table
    fields, spans = BlockDecoder(65_536).decode(block)
    assert [kind for _, _, kind in spans] == [0x80, 0x40, 0x00, 0x10, 0x80]
    assert (spans[0][0], spans[-1][1]) == (0, len(block))
    assert isinstance(fields[3], NeverIndexedHeaderTuple)


def test_a_repeated_block_means_what_the_table_says_now() -> None:
    decoder, sender = BlockDecoder(65_536), Encoder()
    decoder.decode(sender.encode([(b"x-a", b"1")]))
    by_index = b"\xbe"  # dynamic entry 62: the latest one entered
    assert decoder.decode(by_index)[0] == [(b"x-a", b"1")]
    assert decoder.decode(by_index)[0] == [(b"x-a", b"1")]  # the same table, remembered
    decoder.decode(sender.encode([(b"x-b", b"2")]))  # now 62 is x-b
    assert decoder.decode(by_index)[0] == [(b"x-b", b"2")]
    decoder.decode(b"\x20")  # a size update to 0 empties the table
    with pytest.raises(DecodeError, match="62"):
        decoder.decode(by_index)


# nginx 1.22's response head: :status indexed, then server, date, content-type and
# content-length as literals with incremental indexing and static names (captured from the
# bench's origin).
NGINX_HEAD = bytes.fromhex(
    "887689aa6355e580ae212e1f6196df697e9403ca5f29141004e28015c69bb80794c5a37f5f87497ca58ae819aa5c0138"
)


def test_a_repeated_block_that_inserts_with_static_names_is_not_parsed_again() -> None:
    decoder, theirs = BlockDecoder(65_536), Decoder()
    decoded = []
    for _ in range(3):
        fields, _ = decoder.decode(NGINX_HEAD)
        decoded.append(fields)
        theirs.decode(NGINX_HEAD)
    assert [f is decoded[0] for f in decoded] == [True] * 3  # remembered, not parsed again
    assert list(decoder.table.dynamic_entries) == list(theirs.header_table.dynamic_entries)
    assert decoder.table.size == theirs.header_table._current_size
    assert _our_result(BlockDecoder(65_536), NGINX_HEAD) == _hpack_result(Decoder(), NGINX_HEAD)


def test_a_remembered_inserting_block_still_moves_the_table_under_table_neutral_blocks() -> None:
    decoder, theirs = BlockDecoder(65_536), Decoder()
    by_index = b"\xbe"  # dynamic entry 62: the latest one entered (content-length here)
    for block in (NGINX_HEAD, by_index, NGINX_HEAD, by_index, b"\x3f\x21", NGINX_HEAD, by_index):
        assert _our_result(decoder, block) == _hpack_result(theirs, block)
        assert list(decoder.table.dynamic_entries) == list(theirs.header_table.dynamic_entries)


ENTRY = st.tuples(st.sampled_from([b"a", b"date", b"x" * 30]), st.binary(max_size=40))


@given(
    before=st.lists(ENTRY, max_size=6),
    entries=st.lists(ENTRY, min_size=1, max_size=5),
    maxsize=st.sampled_from([0, 40, 64, 100, 200, 4096]),
)
def test_adding_entries_at_once_leaves_the_table_adding_them_one_by_one_does(
    before: list[tuple[bytes, bytes]], entries: list[tuple[bytes, bytes]], maxsize: int
) -> None:
    one_by_one, at_once = Table(), Table()
    for table in (one_by_one, at_once):
        table.resize(maxsize)
        for name, value in before:
            table.add(name, value)
    for name, value in entries:
        one_by_one.add(name, value)
    at_once.add_all(entries, sum(len(n) + len(v) + 32 for n, v in entries))
    assert list(at_once.dynamic_entries) == list(one_by_one.dynamic_entries)
    assert at_once.size == one_by_one.size


def _hpack_result(decoder: Decoder, block: bytes) -> object:
    try:
        return [(h[0], h[1], h.indexable) for h in decoder.decode(block, raw=True)]
    except Exception as exc:
        return type(exc).__name__ != ""


def _our_result(decoder: BlockDecoder, block: bytes) -> object:
    try:
        fields, _ = decoder.decode(block)
    except Exception as exc:
        return type(exc).__name__ != ""
    return [(n, v, not isinstance(f, NeverIndexedHeaderTuple)) for f in fields for n, v in [f]]


BLOCK = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\xbe", b"\xbf\xbe", b"\x82\x84\xbe", b"\x20", b"\x3f\xe1\x1f", b"\x3f\x21"]),
    st.lists(
        st.tuples(st.sampled_from([b"x-a", b":path", b"cookie"]), st.binary(max_size=12)),
        max_size=5,
    ).map(lambda headers: Encoder().encode(headers)),
)


@given(blocks=st.lists(BLOCK, min_size=1, max_size=6))
def test_the_relays_decoder_reads_and_refuses_exactly_what_hpacks_does(
    blocks: list[bytes],
) -> None:
    theirs, ours = Decoder(), BlockDecoder(65_536)
    for block in blocks + blocks:  # twice: repeated blocks come from the decoder's memory
        expected = _hpack_result(theirs, block)
        assert _our_result(ours, block) == expected
        if expected is True:
            return  # after a refusal the connection is over
        assert list(ours.table.dynamic_entries) == list(theirs.header_table.dynamic_entries)
        assert ours.table.maxsize == theirs.header_table.maxsize


SRC = b"meshpipe-src"
SECRET = (b"cookie", b"authorization")
VOCAB = [b"meshpipe-src", b"x-a", b"cookie", b"authorization", b"content-type", b"x-b"]
FIELD = st.tuples(st.sampled_from(VOCAB), st.sampled_from([b"1", b"22", b"x" * 40]), st.booleans())
STEP = st.one_of(
    st.tuples(st.just("block"), st.lists(FIELD, max_size=6), st.booleans(), st.booleans()),
    st.tuples(st.just("size"), st.sampled_from([0, 64, 256, 4096]), st.just(False), st.just(False)),
)


@given(steps=st.lists(STEP, max_size=25))
def test_whatever_the_sender_and_the_edits_the_receiver_decodes_what_the_relay_meant(
    steps: list[tuple[object, ...]],
) -> None:
    p = Pair()
    for kind, arg, skip, add in steps:
        if kind == "size":
            if p.sender.header_table_size != arg:  # hpack forgets a change set twice
                p.sender.header_table_size = arg  # type: ignore[assignment]
            continue
        fields = arg
        block = p.sender.encode([(n, v, sensitive) for n, v, sensitive in fields])  # type: ignore[attr-defined]
        decoded = p.relay.decode(block)
        assert [(n, v) for n, v in decoded] == [(n, v) for n, v, _ in fields]  # type: ignore[attr-defined]
        if skip:
            p.relay.skip()
            continue
        actions = [DROP if n == SRC else PROTECT if n in SECRET else KEEP for n, _ in decoded]
        extra = [(b"meshpipe-dst", b"me")] if add else []
        out = p.relay.forward(block, decoded, actions, extra)
        got = [(h[0], h[1], h.indexable) for h in p.receiver.decode(out, raw=True)]
        want = [  # as the sender marked them, credentials never indexed
            (h[0], h[1], not isinstance(h, NeverIndexedHeaderTuple) and h[0] not in SECRET)
            for h in decoded
            if h[0] != SRC
        ]
        want += [(n, v, True) for n, v in extra]
        assert got == want
