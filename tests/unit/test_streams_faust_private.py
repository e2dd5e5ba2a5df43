"""The private Faust call the worker commits through is still there, in the shape it uses."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from faust.types import TP

from meshpipe.streams import faust_private


def test_the_installed_faust_has_the_commit_the_worker_uses() -> None:
    faust_private.check()


class _Renamed:
    async def _commit_offsets(self, offsets: Mapping[TP, int]) -> bool:
        return True


class _Synchronous:
    def _commit(self, offsets: Mapping[TP, int]) -> bool:
        return True


class _MoreParameters:
    async def _commit(self, offsets: Mapping[TP, int], *, force: bool) -> bool:
        return True


@pytest.mark.parametrize("changed", [_Renamed, _Synchronous, _MoreParameters])
def test_a_changed_commit_fails_the_check_loudly(changed: type[object]) -> None:
    with pytest.raises(faust_private.FaustInternalsChanged, match=r"faust_private\.py"):
        faust_private.check(changed)


class _Consumer:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.seen: list[Mapping[TP, int]] = []

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        self.seen.append(offsets)
        return self.answer


async def test_commit_names_each_partition_of_the_topic_and_passes_the_answer_on() -> None:
    consumer = _Consumer(answer=False)
    assert await faust_private.commit(consumer, "t.requests", {0: 5, 3: 9}) is False
    assert consumer.seen == [{TP("t.requests", 0): 5, TP("t.requests", 3): 9}]
