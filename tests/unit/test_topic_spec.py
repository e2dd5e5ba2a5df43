"""The one topic specification parses, and prefixes isolate whole topic sets."""

from __future__ import annotations

import pytest

from meshpipe.deploy.kafka.topics import TopicSpecError, load_spec
from meshpipe.schemas.topics import BASE_NAMES, DEADLETTER, REQUESTS, TAP, TAP_SESSIONS


def test_packaged_spec_declares_every_topic_the_design_names() -> None:
    names = {t.name for t in load_spec().topics}
    assert names == {REQUESTS, TAP_SESSIONS, TAP, DEADLETTER} == set(BASE_NAMES)


def test_tap_sessions_topic_is_compacted_and_others_are_not() -> None:
    config = {t.name: t.config for t in load_spec().topics}
    assert config[TAP_SESSIONS]["cleanup.policy"] == "compact"
    assert all(config[n].get("cleanup.policy", "delete") == "delete" for n in (REQUESTS, TAP))


def test_prefix_renames_every_topic() -> None:
    spec = load_spec().with_prefix("t1.")
    assert spec.name(REQUESTS) == "t1.meshpipe.requests.v1"
    assert all(t.name.startswith("t1.") for t in spec.resolved())


def test_unknown_base_name_is_rejected() -> None:
    with pytest.raises(KeyError):
        load_spec().name("meshpipe.nope.v1")


def test_spec_without_topics_list_is_a_clear_error() -> None:
    with pytest.raises(TopicSpecError, match="'topics' list"):
        load_spec("topics: 3\n")


def test_entry_without_partitions_is_a_clear_error() -> None:
    with pytest.raises(TopicSpecError, match="bad topic entry"):
        load_spec("topics:\n  - name: x\n")


def test_with_partitions_changes_one_topic_and_refuses_zero() -> None:
    spec = load_spec().with_partitions(REQUESTS, 48)
    assert {t.name: t.partitions for t in spec.topics}[REQUESTS] == 48
    assert [t for t in spec.topics if t.name != REQUESTS] == [
        t for t in load_spec().topics if t.name != REQUESTS
    ]
    with pytest.raises(TopicSpecError, match="at least 1 partition"):
        load_spec().with_partitions(REQUESTS, 0)


def test_the_requests_topic_lets_24_workers_share_the_load() -> None:
    assert {t.name: t.partitions for t in load_spec().topics}[REQUESTS] >= 24
