"""Unit tests for streams.rollups: passes on a schedule; a failed pass waits for the next."""

from __future__ import annotations

import pytest

from meshpipe.sinks.client import ClickHouseError
from meshpipe.streams.rollups import Rolled, keep_rollups


class Stop(Exception):
    """Ends the endless loop after the sleeps a test wants."""


async def test_passes_run_after_the_first_delay_then_every_interval_and_survive_failures() -> None:
    sleeps: list[float] = []
    passes: list[float] = []
    answers: list[Rolled | Exception] = [
        [("edge_windows", 0)],
        ClickHouseError("down", 210),
        [],
    ]

    def roll(now_s: float) -> Rolled:
        passes.append(now_s)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) > 3:
            raise Stop

    with pytest.raises(Stop):
        await keep_rollups(roll, 600.0, lambda: 1_000.0, first_s=60.0, sleep=sleep)
    assert sleeps == [60.0, 600.0, 600.0, 600.0]
    assert passes == [1_000.0, 1_000.0, 1_000.0]
    assert answers == []
