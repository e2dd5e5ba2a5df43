"""The dashboard's HTTP server over in-memory fakes: pages, JSON errors, read-only, and the tap
stream (meshtap's filters and limits; the session ends when the browser goes away)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from dashboard_fakes import FakeBackend, FakeTap, FixedClock, stat_row

from meshpipe.dashboard.api import Api
from meshpipe.dashboard.server import Services, make_app
from meshpipe.dashboard.tapstream import TapLimits
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.sinks.client import ClickHouseError

INDEX = "<!doctype html><title>meshpipe</title>"


def _event(status: int) -> meshpipe_pb2.RequestEvent:
    return meshpipe_pb2.RequestEvent(
        direction=meshpipe_pb2.INBOUND,
        method="GET",
        path="/api/find-by-shortcode?code=x",
        authority="emoji:8080",
        http_status=status,
        classification=meshpipe_pb2.FAILURE if status >= 500 else meshpipe_pb2.SUCCESS,
    )


@pytest.fixture
def static(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "app.js").write_text("// ours")
    return tmp_path


Client = TestClient  # type: ignore[type-arg]


@asynccontextmanager
async def serving(
    static: Path, backend: FakeBackend | None = None, tap: FakeTap | None = None, max_rps: int = 100
) -> AsyncIterator[Client]:
    """A test client of the app over the fakes (in the test's own event loop)."""
    backend = backend or FakeBackend(rows={("all", "emojivoto", "server"): [stat_row("web")]})
    api = Api(backend, FixedClock(), "http://grafana", [])
    services = Services(api, tap or FakeTap([]), TapLimits(max_rps), wall_clock=lambda: 1e9)
    async with TestClient(TestServer(make_app(services, static))) as client:
        yield client


@pytest.mark.parametrize(
    "path", ["/", "/namespaces/emojivoto", "/workloads/emojivoto/deployment/web", "/map"]
)
async def test_every_page_url_serves_the_app(static: Path, path: str) -> None:
    async with serving(static) as client:
        response = await client.get(path + "?since=1h")
        assert response.status == 200
        assert await response.text() == INDEX


async def test_our_static_files_are_served(static: Path) -> None:
    async with serving(static) as client:
        response = await client.get("/static/app.js")
        assert await response.text() == "// ours"


async def test_api_answers_json(static: Path) -> None:
    async with serving(static) as client:
        response = await client.get("/api/namespaces/emojivoto?since=1h")
        assert response.status == 200
        body = await response.json()
        assert [w["name"] for w in body["workloads"]] == ["web"]


async def test_a_bad_range_is_a_400_with_the_reason(static: Path) -> None:
    async with serving(static) as client:
        response = await client.get("/api/overview?since=soon")
        assert response.status == 400
        assert "since" in (await response.json())["error"]


async def test_clickhouse_failures_are_a_503(static: Path) -> None:
    async with serving(static, FakeBackend(error=ClickHouseError("cannot reach", 210))) as client:
        response = await client.get("/api/overview")
        assert response.status == 503
        assert "cannot reach" in (await response.json())["error"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_nothing_can_be_written(static: Path, method: str) -> None:
    async with serving(static) as client:
        response = await client.request(method, "/api/overview")
        assert response.status == 405


async def test_tap_streams_meshtap_lines_as_server_sent_events(static: Path) -> None:
    tap = FakeTap([_event(500)])
    async with serving(static, FakeBackend(), tap) as client:
        response = await client.get("/api/tap?resource=deploy/emoji&namespace=emojivoto&status=5xx")
        assert response.headers["Content-Type"] == "text/event-stream"
        data = b""
        while b"data: " not in data:
            data += await response.content.readany()
        message = json.loads(data.split(b"data: ", 1)[1].split(b"\n\n", 1)[0])
        assert message["failed"]
        assert any(":status=500" in line for line in message["lines"])
        [session] = tap.sessions
        assert session.filter.resource.name == "emoji"
        assert session.filter.resource.namespace == "emojivoto"
        response.close()


async def test_tap_session_ends_when_the_browser_goes_away(static: Path) -> None:
    tap = FakeTap([_event(200)])
    async with serving(static, FakeBackend(), tap) as client:
        response = await client.get("/api/tap?resource=deploy/web&namespace=emojivoto")
        await asyncio.wait_for(tap.opened.wait(), 10)
        await response.content.readany()
        response.close()
        await asyncio.wait_for(tap.closed.wait(), 10)
    assert tap.closed.is_set()


async def test_tap_max_rps_is_capped_by_the_server(static: Path) -> None:
    tap = FakeTap([])
    async with serving(static, FakeBackend(), tap, max_rps=5) as client:
        response = await client.get("/api/tap?resource=deploy/web&max_rps=1000")
        await asyncio.wait_for(tap.opened.wait(), 10)
        response.close()
    assert tap.sessions[0].max_rps == 5


async def test_tap_with_meshtaps_usage_error_is_a_400(static: Path) -> None:
    tap = FakeTap([])
    async with serving(static, FakeBackend(), tap) as client:
        response = await client.get("/api/tap?resource=deploy/web&path=nope")
        assert response.status == 400
        assert "--path must start with /" in (await response.json())["error"]
    assert tap.sessions == []
