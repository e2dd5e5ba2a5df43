"""Unit tests for cli.table: the one table helper."""

from __future__ import annotations

import pytest

from meshpipe.cli.table import Align, Column, render_table


def test_table_left_aligns_names_and_right_aligns_numbers_three_spaces_apart() -> None:
    text = render_table(
        [Column("NAME", Align.LEFT), Column("RPS")], [["web", "2.0rps"], ["emoji-svc", "10.5rps"]]
    )
    assert text == "NAME            RPS\nweb          2.0rps\nemoji-svc   10.5rps\n"


def test_table_with_no_rows_is_just_the_header() -> None:
    assert render_table([Column("NAME", Align.LEFT), Column("RPS")], []) == "NAME   RPS\n"


def test_table_styles_only_the_header() -> None:
    text = render_table([Column("A", Align.LEFT)], [["x"]], style_header=lambda h: f"<{h}>")
    assert text == "<A>\nx\n"


def test_table_rejects_a_row_of_the_wrong_width() -> None:
    with pytest.raises(ValueError, match="2 cells for 1 columns"):
        render_table([Column("A")], [["x", "y"]])
