"""meshtap's output: Linkerd's req/rsp/end lines, -o wide and -o json, against golden files."""

from __future__ import annotations

import json

import pytest
from golden import GOLDEN, check_golden
from meshtap_events import error_event, grpc_event, http_event, reset_event

from meshpipe.cli.tap_render import TapView, render_event
from meshpipe.cli.terminal import Terminal
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

EVENTS = [
    http_event(),
    http_event(seq=4, status=503),
    grpc_event(),
    grpc_event(14),
    reset_event(),
    error_event(),
]


@pytest.mark.parametrize("output", ["plain", "wide", "json"])
def test_output_matches_golden(output: str) -> None:
    view = TapView("" if output == "plain" else output)
    lines = [line for event in EVENTS for line in render_event(event, view)]
    check_golden(GOLDEN / "meshtap" / f"{output}.txt", "\n".join(lines) + "\n")


def test_http_event_prints_linkerd_req_rsp_end_lines() -> None:
    req, rsp, end = render_event(http_event(), TapView())
    common = "id=web-5f8d-x2:1 proxy=in  src=10.0.0.3:51000 dst=10.0.0.7:43210 tls=false"
    assert req == f"req {common} :method=GET :authority=web-svc.emojivoto:80 :path=/api/list"
    assert rsp == f"rsp {common} :status=200 latency=2186µs"
    assert end == f"end {common} duration=2301µs response-length=4525B"


def test_grpc_status_is_printed_by_name() -> None:
    assert "grpc-status=Unavailable " in render_event(grpc_event(14), TapView())[-1]


def test_event_without_a_response_has_no_rsp_line() -> None:
    lines = render_event(error_event(), TapView())
    assert [line[:3] for line in lines] == ["req", "end"]
    assert "error=connect_refused" in lines[-1]


def test_json_is_one_compact_line_with_every_field() -> None:
    [line] = render_event(http_event(), TapView("json"))
    doc = json.loads(line)
    assert "\n" not in line
    assert ": " not in line
    assert set(doc) >= {f.name for f in meshpipe_pb2.RequestEvent.DESCRIPTOR.fields} - {
        "grpc_status",
        "reset_code",
        "error",  # the unset members of the `end` oneof
        "connections",  # set only in connection reports, which are no requests
    }
    assert doc["http_status"] == 200


def test_failures_are_red_only_on_a_colour_terminal() -> None:
    plain = render_event(http_event(status=503), TapView())
    coloured = render_event(http_event(status=503), TapView(), Terminal(is_tty=True, color=True))
    assert coloured[-1] == f"\x1b[31m{plain[-1]}\x1b[0m"
    assert coloured[0] == plain[0]
