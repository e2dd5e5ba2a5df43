"""Keeping aiokafka's retry logging (many lines a second while Kafka is away) to a few lines."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

# The loggers aiokafka's producer path logs through (client.py uses the bare "aiokafka").
KAFKA_LOGGERS = ("aiokafka", "aiokafka.cluster", "aiokafka.conn", "aiokafka.producer.sender")
MISSING_TOPIC = "Topic %s not found in cluster metadata"  # aiokafka's own format string


class RepeatFilter(logging.Filter):
    """Passes each kind of aiokafka warning or error once per interval, with a repeat count.

    A kind is the logger and format string (arguments such as node ids or topics aside from the
    missing-topic one do not make a new kind). While a broker is down or a topic is missing,
    aiokafka logs the same few lines about ten times a second; traffic is unaffected, so one
    line, then a reminder per interval saying how many were left out, is enough. The missing
    topic line is rewritten into one that says what happens and what to do.
    """

    def __init__(
        self, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._interval_s = interval_s
        self._clock = clock
        self._next: dict[tuple[str, str], float] = {}  # kind -> when it may pass again
        self._suppressed: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, str(record.msg))
        if record.msg == MISSING_TOPIC and isinstance(record.args, tuple) and record.args:
            kind = (record.name, f"{record.msg}:{record.args[0]}")
        now = self._clock()
        if now < self._next.get(kind, now):
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        self._next[kind] = now + self._interval_s
        repeats = self._suppressed.pop(kind, 0)
        if record.msg == MISSING_TOPIC:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = (
                "Kafka topic %s does not exist: request events wait in the bounded queue "
                "(oldest dropped when full) until it is created, e.g. by `meshctl dev up`"
            )
        if repeats:
            record.msg = (
                f"{record.msg} [{repeats} more like this in the last {self._interval_s:.0f}s]"
            )
        return True


def install(log_filter: RepeatFilter) -> None:
    """Attach to aiokafka's loggers (a filter already attached is not added twice)."""
    for name in KAFKA_LOGGERS:
        logging.getLogger(name).addFilter(log_filter)


def uninstall(log_filter: RepeatFilter) -> None:
    for name in KAFKA_LOGGERS:
        logging.getLogger(name).removeFilter(log_filter)
