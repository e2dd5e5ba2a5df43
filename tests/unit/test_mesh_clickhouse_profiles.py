"""The read-only profiles shipped for Kubernetes carry the read buffer size meshstat's FINAL
reads ask for: a readonly=1 user cannot set it per query, and 30 days need it on 18.16."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from importlib import resources

from meshpipe.deploy.mesh.clickhouse import ClickHouseConfig, clickhouse
from meshpipe.sinks.query import READ_BUFFER_BYTES


def test_plain_users_xml_readonly_profile_has_the_read_buffer_size() -> None:
    text = resources.files("meshpipe.deploy.mesh").joinpath("clickhouse", "users.xml").read_text()
    root = ET.fromstring(text)
    value = root.findtext("profiles/meshpipe_readonly/max_read_buffer_size")
    assert value == str(READ_BUFFER_BYTES)


def test_operator_installation_readonly_profile_has_the_read_buffer_size() -> None:
    [installation] = clickhouse(ClickHouseConfig("mesh", "clickhouse:24.8", operator=True))
    profiles = installation["spec"]["configuration"]["profiles"]
    assert profiles["meshpipe_readonly/max_read_buffer_size"] == READ_BUFFER_BYTES
