"""Unit tests for streams.loss: distinct sequence numbers per proxy and the gaps they imply."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from streams_events import make_event, workload

from meshpipe.schemas.gen.meshpipe.v1.meshpipe_pb2 import INBOUND
from meshpipe.schemas.rows import LossRow
from meshpipe.streams.loss import LossTracker, count_loss
from meshpipe.streams.windows import WindowSettings


def _rows(seqs: list[tuple[str, int]]) -> list[LossRow]:
    tracker = LossTracker(0, WindowSettings())
    for offset, (proxy, seq) in enumerate(seqs):
        tracker.add(offset, make_event(proxy_id=proxy, seq=seq))
    return tracker.snapshot(0)


def test_gap_in_sequence_is_counted() -> None:
    loss = count_loss(_rows([("a", 1), ("a", 2), ("a", 5)]))
    assert loss["a"].lost == 2
    assert (loss["a"].seq_min, loss["a"].seq_max, loss["a"].received) == (1, 5, 3)


def test_out_of_order_arrival_is_not_a_gap() -> None:
    assert count_loss(_rows([("a", 3), ("a", 1), ("a", 2)]))["a"].lost == 0


def test_duplicate_sequence_is_counted_as_duplicate_not_as_event() -> None:
    loss = count_loss(_rows([("a", 1), ("a", 2), ("a", 2), ("a", 4)]))["a"]
    assert (loss.lost, loss.duplicates, loss.received) == (1, 1, 3)


def test_proxies_are_counted_separately() -> None:
    loss = count_loss(_rows([("a", 1), ("b", 7), ("a", 3), ("b", 8)]))
    assert (loss["a"].lost, loss["b"].lost) == (1, 0)


@given(st.sets(st.integers(1, 300), min_size=1), st.integers(1, 4))
def test_rows_split_over_partitions_sum_to_exact_loss(seqs: set[int], parts: int) -> None:
    rows: list[LossRow] = []
    for part in range(parts):
        mine = [("p", seq) for seq in sorted(seqs) if seq % parts == part]
        if mine:
            rows.extend(_rows(mine))
    assert count_loss(rows)["p"].lost == max(seqs) - min(seqs) + 1 - len(seqs)


def test_rows_name_the_proxys_own_workload_inbound_and_outbound() -> None:
    tracker = LossTracker(0, WindowSettings())
    tracker.add(0, make_event(proxy_id="web-out", src="web", dst="emoji"))
    tracker.add(1, make_event(proxy_id="emoji-in", src="web", dst="emoji", direction=INBOUND))
    tracker.add(2, make_event(proxy_id="emoji-in", src="emoji", dst="db", seq=2))
    owners = {
        r.proxy_id: (r.proxy_namespace, r.proxy_kind, r.proxy_name, r.proxy_pod, r.proxy_directions)
        for r in tracker.snapshot(0)
    }
    web, emoji = workload("web"), workload("emoji")
    assert owners == {
        "web-out": (web.namespace, web.kind, "web", web.pod, 2),
        "emoji-in": (emoji.namespace, emoji.kind, "emoji", emoji.pod, 1 | 2),
    }


def test_an_unmeshed_own_side_names_no_workload() -> None:
    tracker = LossTracker(0, WindowSettings())
    event = make_event(proxy_id="odd")
    event.source.meshed = False
    tracker.add(0, event)
    [row] = tracker.snapshot(0)
    assert (row.proxy_namespace, row.proxy_kind, row.proxy_name, row.proxy_pod) == ("", "", "", "")
