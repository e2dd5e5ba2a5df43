"""The one place the worker relies on Faust's private API: committing offsets it chose.

Faust commits what its own acking tracked; the worker switches that off for the request topic and
commits only what ClickHouse acknowledged (streams.chunks), which no public Faust call does.
`Consumer._commit(offsets)` commits a mapping of TopicPartition to offset and says whether the
broker took it. `check()` verifies that the installed Faust still has it so; it runs when a worker
app is built and in tests/unit/test_streams_faust_private.py, so a Faust upgrade that changes it
fails loudly at start instead of leaving offsets uncommitted.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, cast

from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP

SUPPORTED = "faust-streaming>=0.15,<0.16"  # the pin in pyproject.toml


class FaustInternalsChanged(RuntimeError):
    """The installed Faust no longer has the private call this module uses."""


def check(consumer_class: type[object] = Consumer) -> None:
    """Raise FaustInternalsChanged unless consumer_class has `async _commit(self, offsets)`."""
    method = getattr(consumer_class, "_commit", None)
    shaped = inspect.iscoroutinefunction(method) and list(inspect.signature(method).parameters) == [
        "self",
        "offsets",
    ]
    if not shaped:
        raise FaustInternalsChanged(
            "the installed Faust changed Consumer._commit, which the worker uses to commit "
            f"stored offsets (streams/faust_private.py); meshpipe supports {SUPPORTED}"
        )


async def commit(consumer: object, topic: str, offsets: Mapping[int, int]) -> bool:
    """Commit topic's partition → offset mapping through consumer; True when the broker took it."""
    committed = await cast(Any, consumer)._commit({TP(topic, p): o for p, o in offsets.items()})
    return bool(committed)
