"""Unit tests for meshtap's status flags: --status and --grpc-status values, and the status
selection they put in the session's TapFilter."""

from __future__ import annotations

import pytest

from meshpipe.cli.tap_status import (
    StatusFilterError,
    parse_grpc_status,
    parse_status,
    status_selection,
)
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("500", (500, 500)),
        ("5xx", (500, 599)),
        ("4XX", (400, 499)),
        ("5+", (500, 599)),
        ("4+", (400, 599)),
        ("429+", (429, 599)),
        (" 200 ", (200, 200)),
    ],
)
def test_parse_status_reads_codes_classes_and_lower_bounds(
    text: str, bounds: tuple[int, int]
) -> None:
    assert parse_status(text) == bounds


@pytest.mark.parametrize("text", ["", "5", "600", "099", "5x", "abc", "50+0", "+5"])
def test_parse_status_rejects_anything_else(text: str) -> None:
    with pytest.raises(StatusFilterError, match="invalid --status"):
        parse_status(text)


@pytest.mark.parametrize(
    ("text", "code"), [("Internal", 13), ("internal", 13), ("13", 13), ("Cancelled", 1)]
)
def test_parse_grpc_status_reads_names_in_any_case_and_numbers(text: str, code: int) -> None:
    assert parse_grpc_status(text) == code


@pytest.mark.parametrize("text", ["", "Internl", "17", "-1", "5xx"])
def test_parse_grpc_status_rejects_anything_else_naming_the_choices(text: str) -> None:
    with pytest.raises(StatusFilterError, match="invalid --grpc-status") as info:
        parse_grpc_status(text)
    assert "Unavailable" in str(info.value)
    assert "\n" not in str(info.value)


def test_repeated_and_comma_separated_values_become_one_list_each() -> None:
    selection = status_selection(["404,5xx", "503"], ["Internal,unavailable", "13"], failed=True)
    assert [(r.low, r.high) for r in selection.http_statuses] == [
        (404, 404),
        (500, 599),
        (503, 503),
    ]
    assert list(selection.grpc_statuses) == [13, 14]
    assert selection.failed


def test_no_status_flags_select_nothing_extra() -> None:
    assert status_selection([], [], failed=False) == meshpipe_pb2.TapFilter()


def test_an_empty_item_in_a_comma_list_is_an_error() -> None:
    with pytest.raises(StatusFilterError, match='invalid --grpc-status ""'):
        status_selection([], ["Internal,"], failed=False)
