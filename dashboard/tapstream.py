"""The dashboard's live tap: URL parameters to a tap plan (meshtap's options and limits), and
the stream of a tap session's matches as server-sent events until the browser goes away."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from meshpipe.cli.tap_options import DEFAULT_MAX_RPS, TapOptions, TapPlan
from meshpipe.cli.tap_render import TapView, render_event
from meshpipe.cli.tapclient import KafkaSettings, LiveTap, TapSource, new_session
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

POLL_S = 0.5  # longest wait for Kafka before the stream checks whether the browser is still there
HEARTBEAT_S = 2.0  # a comment line this often: a write to a closed connection ends the session

OpenTap = Callable[[meshpipe_pb2.TapSession], AbstractAsyncContextManager[TapSource]]


@dataclass(frozen=True)
class TapLimits:
    """What the server allows a browser's tap: the highest max rps it may ask for."""

    max_rps: int = DEFAULT_MAX_RPS


def _list(text: str | None) -> tuple[str, ...]:
    return tuple(part for part in (text or "").split(",") if part.strip())


def tap_plan(params: Mapping[str, str], now_s: float, limits: TapLimits) -> TapPlan:
    """The plan meshtap would make of these flags (`resource`, `namespace`, `to`, `method`,
    `path`, `authority`, `scheme`, `status`, `grpc_status`, `failed`, `max_rps`); raises
    UsageError with meshtap's message when they do not make one."""
    try:
        max_rps = int(params.get("max_rps") or limits.max_rps)
    except ValueError:
        max_rps = 0  # refused by the options' own check
    options = TapOptions(
        resources=_list(params.get("resource")),
        namespace=params.get("namespace") or "default",
        to_resource=params.get("to") or None,
        to_namespace=params.get("to_namespace") or None,
        max_rps=min(max_rps, limits.max_rps),
        method=params.get("method") or None,
        path=params.get("path") or None,
        authority=params.get("authority") or None,
        scheme=params.get("scheme") or None,
        status=_list(params.get("status")),
        grpc_status=_list(params.get("grpc_status")),
        failed=params.get("failed") in ("1", "true", "on"),
    )
    return options.validate(now_s)


def event_message(event: meshpipe_pb2.RequestEvent) -> bytes:
    """One server-sent event: meshtap's lines for the request and the fields a page colours by."""
    body = {
        "lines": render_event(event, TapView()),
        "failed": event.classification == meshpipe_pb2.FAILURE,
        "method": event.method,
        "path": event.path,
        "status": event.http_status,
    }
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()


def live_opener(settings: KafkaSettings) -> OpenTap:
    """Tap sessions on the Kafka session topic, as meshtap opens them."""

    def open_tap(session: meshpipe_pb2.TapSession) -> AbstractAsyncContextManager[TapSource]:
        return LiveTap(settings, session)

    return open_tap


async def stream(
    plan: TapPlan,
    open_tap: OpenTap,
    monotonic: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> AsyncGenerator[bytes, None]:
    """The session's matches as server-sent events, with heartbeats, for as long as the
    consumer keeps reading; the session is ended (tombstoned) when the consumer stops."""
    session = new_session(uuid.uuid4().hex, plan.tap_filter, plan.max_rps, wall_clock())
    async with open_tap(session) as source:
        yield b": tap session open\n\n"
        beat = monotonic()
        while True:
            events = await source.poll(POLL_S)
            if events is None:
                return
            for event in events:
                yield event_message(event)
            if monotonic() - beat >= HEARTBEAT_S:
                beat = monotonic()
                yield b": ping\n\n"
