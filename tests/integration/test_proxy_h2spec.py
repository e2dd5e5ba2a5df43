"""HTTP/2 tools against meshproxy's inbound listener in front of an h2c application: h2spec (the
conformance suite, from the Go module proxy), h2load and curl --http2-prior-knowledge."""

from __future__ import annotations

import asyncio
import shutil
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import h2.events as h2e
import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.exceptions import ProtocolError, StreamClosedError
from test_proxy_relay import API, LOOPBACK, consume, curl, meshproxy

from meshpipe.deploy.kafka.topics import TopicSet
from meshpipe.proxy.layer import Address
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.topics import REQUESTS

pytestmark = pytest.mark.integration

# Cases h2spec 2.x runs with --strict (none skipped), and the ones meshproxy is known to fail,
# each with the reason. Measured: 146 run, 146 passed (without --strict: 145 of 145).
EXPECTED_CASES = 146
KNOWN_FAILURES: dict[str, str] = {}
BODY = b"ok" * 4096


def h2spec_binary() -> str | None:
    # `make tools` installs it beside the venv's python.
    venv = Path(sys.executable).parent / "h2spec"
    return str(venv) if venv.exists() else shutil.which("h2spec")


class _H2App(asyncio.Protocol):
    """The application: an h2c server answering every request `200 ok` once it has ended."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.conn = H2Connection(H2Configuration(client_side=False))
        self.heads: dict[int, bool] = {}
        self.bodies: dict[int, bytes] = {}  # response bodies waiting for window
        self.conn.initiate_connection()
        transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except ProtocolError:
            self.transport.write(self.conn.data_to_send())
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2e.DataReceived) and event.stream_id:
                size = event.flow_controlled_length or 0
                self.conn.acknowledge_received_data(size, event.stream_id)
            elif isinstance(event, h2e.RequestReceived):
                self.heads[event.stream_id] = dict(event.headers).get(":method") == "HEAD"
            elif isinstance(event, h2e.StreamEnded):
                self._respond(event.stream_id, self.heads.pop(event.stream_id, False))
            elif isinstance(event, h2e.StreamReset):
                self.bodies.pop(event.stream_id, None)
        self._send_bodies()
        self.transport.write(self.conn.data_to_send())

    def _respond(self, sid: int, head: bool) -> None:
        try:  # a body larger than a few frames lets h2spec test flow control (§6.9)
            self.conn.send_headers(sid, [(":status", "200"), ("content-length", str(len(BODY)))])
        except (StreamClosedError, ProtocolError):
            return  # the client reset it, or the connection is going away
        self.bodies[sid] = b"" if head else BODY

    def _send_bodies(self) -> None:
        """Send what the flow-control windows allow (on every read: WINDOW_UPDATEs come so)."""
        for sid, body in list(self.bodies.items()):
            try:
                room = min(self.conn.local_flow_control_window(sid), len(body))
                room = min(room, self.conn.max_outbound_frame_size)
                if body and room <= 0:  # a window may go negative (RFC 9113 §6.9.2)
                    continue
                self.conn.send_data(sid, body[:room], end_stream=room == len(body))
            except (StreamClosedError, ProtocolError):
                room = len(body)  # gone: forget it
            if room == len(body):
                del self.bodies[sid]
            else:
                self.bodies[sid] = body[room:]


@asynccontextmanager
async def h2_app() -> AsyncIterator[Address]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_H2App, LOOPBACK, 0)
    try:
        yield Address(LOOPBACK, server.sockets[0].getsockname()[1])
    finally:
        server.close()


def junit_results(report: Path) -> tuple[int, dict[str, str]]:
    """(cases run, {failed case: h2spec's message}) from h2spec's JUnit report."""
    root = ET.parse(report).getroot()
    cases = root.iter("testcase")
    ran, failed = 0, {}
    for case in cases:
        if case.find("skipped") is not None:
            continue
        ran += 1
        failure = case.find("failure")
        failure = case.find("error") if failure is None else failure  # Elements without
        if failure is not None:  # children are falsy: no `or` here
            name = f"{case.get('package', '')} {case.get('classname', '')}: {case.get('name', '')}"
            failed[name.strip()] = (failure.text or failure.get("message") or "").strip()
    return ran, failed


async def test_h2spec_against_the_inbound_listener(
    kafka_bootstrap: str, topics: TopicSet, tmp_path: Path
) -> None:
    binary = h2spec_binary()
    if binary is None:
        pytest.skip("h2spec missing: go install github.com/summerwind/h2spec/cmd/h2spec@latest")
    report = tmp_path / "h2spec.xml"
    topic = topics.name(REQUESTS)
    async with h2_app() as app, meshproxy(API, kafka_bootstrap, topic, app) as proxy:
        inbound = proxy.bound("inbound")
        target = ["-h", inbound.host, "-p", str(inbound.port)]
        proc = await asyncio.create_subprocess_exec(
            binary, "--strict", *target, "-o", "3", "-j", str(report),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=600)
    ran, failed = junit_results(report)
    summary = output.decode(errors="replace")[-3000:]
    assert ran == EXPECTED_CASES, summary
    assert failed == KNOWN_FAILURES, summary


async def test_curl_h2_prior_knowledge_through_inbound_gets_the_body_and_one_event(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    topic = topics.name(REQUESTS)
    async with h2_app() as app, meshproxy(API, kafka_bootstrap, topic, app) as proxy:
        url = f"http://{proxy.bound('inbound')}/page?x=1"
        rc, body = await curl("--http2-prior-knowledge", "-d", "form=1", url)
    assert (rc, body) == (0, BODY.decode())
    [(_, ev)] = await consume(kafka_bootstrap, topic, 1)
    assert (ev.protocol, ev.method, ev.path, ev.http_status) == (
        meshpipe_pb2.HTTP2, "POST", "/page?x=1", 200,
    )  # fmt: skip
    assert (ev.request_bytes, ev.response_bytes) == (6, len(BODY))
    assert ev.classification == meshpipe_pb2.SUCCESS


async def test_h2load_many_multiplexed_streams_all_succeed_with_gapless_events(
    kafka_bootstrap: str, topics: TopicSet
) -> None:
    if shutil.which("h2load") is None:
        pytest.skip("h2load missing (Debian package nghttp2-client)")
    topic = topics.name(REQUESTS)
    requests = 2000
    async with h2_app() as app, meshproxy(API, kafka_bootstrap, topic, app) as proxy:
        url = f"http://{proxy.bound('inbound')}/"
        proc = await asyncio.create_subprocess_exec(
            "h2load", "-n", str(requests), "-c", "4", "-m", "200", url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    report = output.decode(errors="replace")
    assert f"{requests} succeeded, 0 failed, 0 errored, 0 timeout" in report, report
    events = [e for _, e in await consume(kafka_bootstrap, topic, requests)]
    assert sorted(e.proxy_seq for e in events) == list(range(1, requests + 1))
    assert all(e.http_status == 200 and e.response_bytes == len(BODY) for e in events)
