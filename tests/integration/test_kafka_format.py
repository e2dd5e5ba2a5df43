"""Kafka storage formats with any random cluster id, including one that starts with a dash."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from meshpipe.deploy.dev import kafka as kafka_runner
from meshpipe.deploy.dev.kafka import KafkaRunner, KafkaSettings, require_java

pytestmark = pytest.mark.integration

DASHED_ID = "-gut2y0GR0CV-9otWDvdXQ"  # what one random id in 64 looks like


def test_cluster_id_starting_with_a_dash_is_not_taken_for_an_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dashed = uuid.UUID(bytes=base64.urlsafe_b64decode(DASHED_ID + "=="))
    monkeypatch.setattr(kafka_runner.uuid, "uuid4", lambda: dashed)
    runner = KafkaRunner(KafkaSettings(port=1, controller_port=2, data_dir=tmp_path))
    runner.fetch()
    runner._format_once(require_java(), runner._write_config())
    meta = (tmp_path / "data" / "meta.properties").read_text()
    assert f"cluster.id={DASHED_ID}\n" in meta
