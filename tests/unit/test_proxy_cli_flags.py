"""meshproxy's flag errors: one line on stderr and the usage exit code, before anything listens."""

from __future__ import annotations

from click.testing import CliRunner

from meshpipe.proxy.main import EXIT_USAGE, main


def test_bare_inbound_without_transparent_exits_with_a_one_line_usage_error() -> None:
    result = CliRunner().invoke(
        main,
        ["--workload", "ns/deployment/web", "--kafka", "127.0.0.1:1", "--inbound", "0.0.0.0:4143"],
        env={"MESHPIPE_TRANSPARENT": ""},
    )
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.strip().count("\n") == 0
    assert "a bare LISTEN needs --transparent" in result.stderr
