"""The HTTP/2 error code names meshtap prints are RFC 9113 §7's (h2's table, without h2)."""

from __future__ import annotations

from h2.errors import ErrorCodes

from meshpipe.schemas.h2errors import H2_ERROR_NAMES, h2_error_name


def test_every_rfc_9113_code_has_the_name_h2_gives_it() -> None:
    assert {code: h2_error_name(code) for code in range(len(H2_ERROR_NAMES))} == {
        int(code): code.name for code in ErrorCodes
    }


def test_a_code_rfc_9113_does_not_define_prints_as_its_number() -> None:
    assert (h2_error_name(0xE), h2_error_name(-1), h2_error_name(2**32 - 1)) == (
        "14",
        "-1",
        "4294967295",
    )
