"""aiokafka's repeated retry lines pass once per interval; the missing-topic one is explained."""

from __future__ import annotations

import logging

from meshpipe.proxy.kafka_log import MISSING_TOPIC, RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _record(msg: str, *args: object, name: str = "aiokafka.cluster") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, "x.py", 1, msg, args, None)


def test_missing_topic_error_becomes_one_warning_then_one_reminder_per_interval() -> None:
    clock = Clock()
    limiter = RepeatFilter(interval_s=60, clock=clock)
    passed: list[logging.LogRecord] = []
    for _ in range(600):  # a minute of aiokafka retrying ten times a second
        record = _record(MISSING_TOPIC, "meshpipe.requests.v1")
        if limiter.filter(record):
            passed.append(record)
        clock.now += 0.1
    clock.now = 160.0  # exactly one interval after the first line
    record = _record(MISSING_TOPIC, "meshpipe.requests.v1")
    assert limiter.filter(record)
    [first] = passed
    assert (first.levelname, first.levelno) == ("WARNING", logging.WARNING)
    assert first.getMessage().startswith("Kafka topic meshpipe.requests.v1 does not exist")
    assert record.getMessage().endswith("[599 more like this in the last 60s]")


def test_each_kind_of_line_is_limited_on_its_own() -> None:
    limiter = RepeatFilter(interval_s=60, clock=Clock())
    refused = "Unable connect to node with id %s: %s"
    assert limiter.filter(_record(refused, 1, "refused", name="aiokafka"))
    assert not limiter.filter(_record(refused, 1, "refused", name="aiokafka"))
    assert limiter.filter(_record(MISSING_TOPIC, "a"))
    assert limiter.filter(_record(MISSING_TOPIC, "b"))
    assert not limiter.filter(_record(MISSING_TOPIC, "a"))


def test_lines_below_warning_are_left_alone() -> None:
    limiter = RepeatFilter(interval_s=60, clock=Clock())
    debug = _record("Sending request %s", 1)
    debug.levelno = logging.DEBUG
    assert all(limiter.filter(debug) for _ in range(3))
