"""The meshstreams Deployment migrates the schema first: an init container running `meshstreams
migrate` from the worker's image, with the worker's ClickHouse settings."""

from __future__ import annotations

from typing import Any

from meshpipe.cli.meshstreams import meshstreams
from meshpipe.deploy.mesh.install import InstallConfig, Passwords, render

CONFIG = InstallConfig(passwords=Passwords("r", "w", "g"), image_tag="t")


def _streams_pod() -> dict[str, Any]:
    [deployment] = [
        o
        for o in render(CONFIG)
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "meshstreams"
    ]
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def test_init_container_runs_migrate_from_the_worker_image_with_its_clickhouse_env() -> None:
    pod = _streams_pod()
    [init], [worker] = pod["initContainers"], pod["containers"]
    clickhouse = [e for e in worker["env"] if e["name"].startswith("MESHPIPE_CLICKHOUSE")]
    assert (init["image"], init["args"], init["env"]) == (worker["image"], ["migrate"], clickhouse)


def test_migrate_is_a_meshstreams_command_reading_the_injected_url() -> None:
    command = meshstreams.commands["migrate"]
    envvars = {getattr(p, "envvar", None) for p in command.params}
    assert "MESHPIPE_CLICKHOUSE" in envvars
