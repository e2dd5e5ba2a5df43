"""Small builders of `schemas.rows` rows for the sinks tests."""

from __future__ import annotations

from dataclasses import replace

from meshpipe.schemas.rows import ConnectionRow, EdgeWindowRow, LossRow, RequestRow

EDGE = EdgeWindowRow(
    window_start_s=4_000_000_000,
    window_s=10,
    direction="in",
    source="shop/deployment/web",
    source_namespace="shop",
    source_kind="deployment",
    source_name="web",
    source_meshed=True,
    destination="shop/deployment/api",
    destination_namespace="shop",
    destination_kind="deployment",
    destination_name="api",
    destination_meshed=True,
    partition=0,
    first_offset=0,
    version=0,
    requests=1,
    successes=1,
    failures=0,
    status_4xx=0,
    status_5xx=0,
    grpc_failures=0,
    request_bytes=10,
    response_bytes=20,
    latency_sum_us=1000,
    duration_sum_us=1500,
    latency_buckets=(61,),
    latency_counts=(1,),
    duration_buckets=(64,),
    duration_counts=(1,),
)

REQUEST = RequestRow(
    partition=0,
    offset=0,
    id="00" * 16,
    proxy_id="api-1",
    proxy_seq=1,
    direction="in",
    source_namespace="shop",
    source_kind="deployment",
    source_name="web",
    source_pod="web-1",
    source_ip="10.0.0.1",
    source_port=40000,
    source_meshed=True,
    source_authority="",
    destination_namespace="shop",
    destination_kind="deployment",
    destination_name="api",
    destination_pod="api-1",
    destination_ip="10.0.0.2",
    destination_port=8080,
    destination_meshed=True,
    destination_authority="api.shop:8080",
    protocol="http1",
    method="GET",
    scheme="http",
    authority="api.shop:8080",
    path="/items",
    http_status=200,
    grpc_status=-1,
    reset_code=-1,
    error_kind="",
    error_message="",
    start_us=4_000_000_000_000_000,
    latency_us=1000,
    duration_us=1500,
    request_bytes=10,
    response_bytes=20,
    tls=False,
    trace_id="",
    classification="success",
    classification_reason="ok",
    header_names=("user-agent",),
    header_values=("curl",),
)

LOSS = LossRow(
    proxy_id="api-1",
    window_start_s=4_000_000_000,
    window_s=10,
    partition=0,
    first_offset=0,
    version=0,
    events=1,
    duplicates=0,
    seq_min=1,
    seq_max=1,
    proxy_namespace="shop",
    proxy_kind="deployment",
    proxy_name="api",
    proxy_pod="api-1",
    proxy_directions=1,
)

CONNECTIONS = ConnectionRow(
    window_start_s=4_000_000_000,
    report_us=4_000_000_003_500_000,
    proxy_id="api-1",
    direction="in",
    source="shop/deployment/web",
    source_namespace="shop",
    source_kind="deployment",
    source_name="web",
    source_pod="",
    source_meshed=True,
    destination="shop/deployment/api",
    destination_namespace="shop",
    destination_kind="deployment",
    destination_name="api",
    destination_pod="api-1",
    destination_meshed=True,
    partition=0,
    first_offset=0,
    version=0,
    open_connections=3,
    opened=1,
    closed=0,
)


def edge(offset: int, **changes: object) -> EdgeWindowRow:
    """An edge window row whose segment starts and ends at offset, with changes applied."""
    return replace(EDGE, **{"first_offset": offset, "version": offset, **changes})  # type: ignore[arg-type]


def request(offset: int, **changes: object) -> RequestRow:
    """A request row at offset, with changes applied."""
    return REQUEST._replace(**{"offset": offset, "proxy_seq": offset + 1, **changes})  # type: ignore[arg-type]


def loss(offset: int, **changes: object) -> LossRow:
    """A loss row whose segment starts and ends at offset, with changes applied."""
    return replace(LOSS, **{"first_offset": offset, "version": offset, **changes})  # type: ignore[arg-type]


def connections(offset: int, **changes: object) -> ConnectionRow:
    """A connection row whose segment starts and ends at offset, with changes applied."""
    return replace(CONNECTIONS, **{"first_offset": offset, "version": offset, **changes})  # type: ignore[arg-type]
