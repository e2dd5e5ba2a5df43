"""Renders one tapped RequestEvent as Linkerd's `req`/`rsp`/`end` lines, or as one JSON line.

Each event is printed whole when it ends (events are emitted at end of stream): `req`, then
`rsp` when a response head arrived (`:status`, `latency` = start to headers), then `end` with
`grpc-status`, `reset-error` or the proxy `error` when there is one, `duration` (start to end of
stream, unlike Linkerd's headers-to-end) and `response-length` (body bytes). `src`/`dst` are
`ip:port` when known, else the authority the caller used. `-o wide` appends `src_pod`,
`src_res` (`kind/name`), `src_ns` and the same for `dst`. `-o json` prints the RequestEvent in
protobuf's JSON mapping with field names as in the .proto and every field present (`id` base64).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from google.protobuf import json_format

from meshpipe.cli.terminal import Terminal
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.grpcstatus import grpc_status_name
from meshpipe.schemas.h2errors import h2_error_name

PLAIN = Terminal()
_PROXY = {meshpipe_pb2.INBOUND: "in ", meshpipe_pb2.OUTBOUND: "out"}


@dataclass(frozen=True)
class TapView:
    """How to print events: `` (Linkerd's lines), `wide` or `json`."""

    output: str = ""


def render_event(
    event: meshpipe_pb2.RequestEvent, view: TapView, terminal: Terminal = PLAIN
) -> list[str]:
    """The lines for one event, without newlines."""
    if view.output == "json":
        return [event_json(event)]
    common = _common(event)
    tail = _wide(event) if view.output == "wide" else ""
    lines = [f"req {common} :method={event.method} :authority={event.authority} :path={event.path}"]
    if event.http_status:
        lines.append(f"rsp {common} :status={event.http_status} latency={event.latency_us}µs")
    end = f"end {common} {_end_fields(event)}"
    if event.classification == meshpipe_pb2.FAILURE:
        end = terminal.red(end)
    lines.append(end)
    return [line + tail for line in lines]


def _common(event: meshpipe_pb2.RequestEvent) -> str:
    proxy = _PROXY.get(event.direction, "???")
    src = _address(event.source)
    dst = _address(event.destination, event.authority)
    tls = "true" if event.tls else "false"
    return f"id={event.proxy_id}:{event.proxy_seq} proxy={proxy} src={src} dst={dst} tls={tls}"


def _address(workload: meshpipe_pb2.Workload, authority: str = "") -> str:
    if workload.ip:
        return f"{workload.ip}:{workload.port}" if workload.port else workload.ip
    return workload.authority or authority or "unknown"


def _end_fields(event: meshpipe_pb2.RequestEvent) -> str:
    reason = event.WhichOneof("end")
    sizes = f"duration={event.duration_us}µs response-length={event.response_bytes}B"
    if reason == "grpc_status":
        return f"grpc-status={grpc_status_name(event.grpc_status)} {sizes}"
    if reason == "reset_code":
        return f"reset-error={h2_error_name(event.reset_code)} {sizes}"
    if reason == "error":
        return f"error={event.error.kind or 'unknown'} {sizes}"
    return sizes


def _wide(event: meshpipe_pb2.RequestEvent) -> str:
    fields = []
    for prefix, workload in (("src", event.source), ("dst", event.destination)):
        if workload.pod:
            fields.append(f"{prefix}_pod={workload.pod}")
        if workload.kind and workload.name:
            fields.append(f"{prefix}_res={workload.kind}/{workload.name}")
        if workload.namespace:
            fields.append(f"{prefix}_ns={workload.namespace}")
    return "".join(f" {field}" for field in fields)


def event_json(event: meshpipe_pb2.RequestEvent) -> str:
    """The event as one compact JSON object, every field present."""
    doc = json_format.MessageToDict(
        event, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
