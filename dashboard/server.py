"""The dashboard's HTTP server (aiohttp): the pages, the static assets, the JSON API and the
live tap stream. GET only: nothing here writes anywhere but to the tap session topic."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from aiohttp import web

from meshpipe.dashboard.api import Api, ApiError, Json
from meshpipe.dashboard.tapstream import OpenTap, TapLimits, stream, tap_plan
from meshpipe.schemas.exits import UsageError
from meshpipe.sinks.client import ClickHouseError
from meshpipe.sinks.query import QueryError

STATIC = "static"
VENDOR = ("uPlot.iife.min.js", "uPlot.min.css", "cytoscape.min.js")  # from `make assets`
PAGES = ("/", "/namespaces/{namespace}", "/workloads/{namespace}/{kind}/{name}", "/map")


class AssetsMissingError(RuntimeError):
    """The third-party browser libraries were not installed with the package."""


def static_dir() -> Path:
    """Our HTML/JS/CSS and, under vendor/, the libraries `make assets` copied in."""
    return Path(str(resources.files("meshpipe.dashboard") / STATIC))


def check_assets(folder: Path) -> None:
    missing = [name for name in VENDOR if not (folder / "vendor" / name).is_file()]
    if missing:
        raise AssetsMissingError(
            f"dashboard assets missing ({', '.join(missing)}): run `make assets` and reinstall"
        )


@dataclass(frozen=True)
class Services:
    """What the server's handlers use: the API, the tap opener and limits, and a clock."""

    api: Api
    open_tap: OpenTap
    tap_limits: TapLimits = field(default_factory=TapLimits)
    wall_clock: Callable[[], float] = time.time


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Json, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, allow_nan=False),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _api(call: Callable[[web.Request], Awaitable[Json]]) -> Handler:
    """A handler answering call's JSON, with bad requests and ClickHouse failures as JSON errors."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return _json(await call(request))
        except (ApiError, QueryError) as exc:
            return _json({"error": str(exc)}, status=400)
        except ClickHouseError as exc:
            return _json({"error": f"ClickHouse: {exc}"}, status=503)

    return handle


def _tap(services: Services) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            plan = tap_plan(request.query, services.wall_clock(), services.tap_limits)
        except UsageError as exc:
            return _json({"error": str(exc)}, status=400)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        try:
            async with aclosing(stream(plan, services.open_tap)) as messages:
                async for message in messages:
                    await response.write(message)
        except (ConnectionResetError, ConnectionError):
            pass  # the browser went away: aclosing ended the tap session
        return response

    return handle


def _page(index: Path) -> Handler:
    async def handle(_request: web.Request) -> web.StreamResponse:
        return web.FileResponse(index, headers={"Cache-Control": "no-store"})

    return handle


def make_app(services: Services, folder: Path | None = None) -> web.Application:
    """The application: pages, /static, /api/* and /api/tap."""
    folder = folder or static_dir()
    api = services.api
    app = web.Application()
    q = "namespace"
    app.add_routes(
        [
            web.get("/api/config", _api(lambda r: api.config(r.query))),
            web.get("/api/overview", _api(lambda r: api.overview(r.query))),
            web.get(
                "/api/namespaces/{namespace}",
                _api(lambda r: api.namespace(r.query, r.match_info[q])),
            ),
            web.get(
                "/api/workloads/{namespace}/{kind}/{name}",
                _api(
                    lambda r: api.workload(
                        r.query, r.match_info[q], r.match_info["kind"], r.match_info["name"]
                    )
                ),
            ),
            web.get("/api/map", _api(lambda r: api.service_map(r.query))),
            web.get("/api/tap", _tap(services)),
            web.static("/static", folder),
            *(web.get(path, _page(folder / "index.html")) for path in PAGES),
        ]
    )
    return app
