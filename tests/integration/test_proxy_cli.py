"""The meshproxy command as deployed: MESHPIPE_* settings, SIGTERM drains and exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from test_proxy_relay import LOOPBACK, consume, free_port, origin

from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.topics import REQUESTS

pytestmark = pytest.mark.integration

MESHPROXY = str(Path(sys.executable).parent / "meshproxy")


async def wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        try:
            async with session.get(url) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never became ready")


async def test_sigterm_lets_the_request_finish_flushes_its_event_and_exits_zero(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    inbound, admin = free_port(), free_port()
    async with origin() as app:
        env = dict(
            os.environ,
            MESHPIPE_WORKLOAD="emojivoto/deployment/api",
            MESHPIPE_POD="api-7",
            MESHPIPE_INBOUND=f"{LOOPBACK}:{inbound}={app}",
            MESHPIPE_ADMIN=f"{LOOPBACK}:{admin}",
            MESHPIPE_KAFKA=kafka_bootstrap,
            MESHPIPE_TOPIC=topic,
        )
        proc = await asyncio.create_subprocess_exec(
            MESHPROXY, env=env, stderr=asyncio.subprocess.PIPE
        )
        try:
            async with aiohttp.ClientSession() as session:
                await wait_ready(session, f"http://{LOOPBACK}:{admin}/ready")
                async with session.get(f"http://{LOOPBACK}:{inbound}/hello") as resp:
                    assert await resp.text() == "hello world"
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                _, stderr = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, stderr.decode()
    [(_, event)] = await consume(kafka_bootstrap, topic, 1)
    assert (event.direction, event.destination.pod, event.path) == (
        meshpipe_pb2.INBOUND,
        "api-7",
        "/hello",
    )


def test_bad_flag_value_is_one_line_and_usage_exit_code() -> None:
    import subprocess

    done = subprocess.run(
        [MESHPROXY, "--workload", "x/y", "--kafka", "k:1", "--inbound", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("meshproxy: invalid workload")
