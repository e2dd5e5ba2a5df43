"""Unit tests for meshtap's --status post-filter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshpipe.cli.tap_status import StatusFilter, StatusFilterError, parse_status, status_filter


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


def test_five_plus_matches_server_errors_only() -> None:
    only = status_filter(["5+"])
    assert [s for s in (200, 404, 499, 500, 503, 599) if only.matches(s)] == [500, 503, 599]


def test_repeated_and_comma_separated_values_are_alternatives() -> None:
    only = status_filter(["404,500", "503"])
    assert [s for s in (200, 404, 500, 502, 503) if only.matches(s)] == [404, 500, 503]


def test_a_filter_hides_events_without_a_response() -> None:
    assert not status_filter(["5+"]).matches(0)


@given(st.integers(min_value=0, max_value=999))
def test_no_filter_shows_every_status(status: int) -> None:
    assert StatusFilter().matches(status)
