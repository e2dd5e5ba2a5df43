"""Unit tests for schemas.grpcstatus: gRPC status codes by name and number."""

from __future__ import annotations

import pytest

from meshpipe.schemas.grpcstatus import GRPC_STATUS_NAMES, grpc_status_code, grpc_status_name


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("OK", 0),
        ("internal", 13),
        ("INTERNAL", 13),
        ("Unavailable", 14),
        ("Cancelled", 1),
        ("canceled", 1),
        ("DeadlineExceeded", 4),
        ("Unauthenticated", 16),
        ("13", 13),
        (" 0 ", 0),
        ("16", 16),
    ],
)
def test_names_in_any_case_and_numbers_give_the_code(text: str, code: int) -> None:
    assert grpc_status_code(text) == code


@pytest.mark.parametrize("text", ["", "17", "-1", "Internl", "deadline_exceeded", "١٣", "0x0d"])
def test_anything_else_is_no_code(text: str) -> None:
    assert grpc_status_code(text) is None


def test_every_name_reads_back_as_its_own_code() -> None:
    assert [grpc_status_code(name) for name in GRPC_STATUS_NAMES] == list(range(17))


def test_a_code_grpc_does_not_define_is_named_by_its_number() -> None:
    assert (grpc_status_name(13), grpc_status_name(99)) == ("Internal", "99")
