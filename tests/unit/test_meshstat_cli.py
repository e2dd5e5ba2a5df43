"""meshstat end to end through run_cli with an in-memory fetch: exit codes, stderr, --watch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from cli_run import Outcome, run_command
from test_meshstat_render import ROWS

from meshpipe.cli.completion import clickhouse_names, resource_completions
from meshpipe.cli.meshstat import StatEnv, fetch_clickhouse, meshstat
from meshpipe.cli.terminal import CLEAR_SCREEN, Terminal
from meshpipe.schemas.exits import ExitStatus
from meshpipe.sinks.client import ClickHouseUrl
from meshpipe.sinks.query import StatQuery, StatRow

NOW = 1_795_773_600.0


@dataclass
class FakeClock:
    now_s: float = NOW
    slept: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now_s += seconds


@dataclass
class FakeStore:
    """Answers every query with the given rows and remembers what was asked, and where."""

    rows: list[StatRow]
    asked: list[tuple[ClickHouseUrl, StatQuery]] = field(default_factory=list)

    def __call__(self, url: ClickHouseUrl, queries: Sequence[StatQuery]) -> list[list[StatRow]]:
        self.asked += [(url, q) for q in queries]
        return [self.rows for _ in queries]


def _run(
    capsys: pytest.CaptureFixture[str], args: list[str], rows: list[StatRow], **env: object
) -> Outcome:
    stat_env = StatEnv(clock=FakeClock(), fetch=FakeStore(rows), **env)  # type: ignore[arg-type]
    return run_command(capsys, "meshstat", meshstat, args, stat_env)


def test_rows_print_as_a_table_and_exit_ok(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = _run(capsys, ["deploy"], ROWS)
    assert outcome.status == ExitStatus.OK
    assert outcome.out.splitlines()[0].split()[0] == "NAME"
    assert len(outcome.out.splitlines()) == 1 + len(ROWS)
    assert outcome.err == ""


def test_no_rows_says_no_traffic_on_stderr_and_exits_ok(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = _run(capsys, ["deploy"], [])
    assert (outcome.status, outcome.out, outcome.err) == (0, "", "No traffic found.\n")


def test_no_rows_in_json_prints_an_empty_list(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = _run(capsys, ["deploy", "-o", "json"], [])
    assert (outcome.status, outcome.out.strip(), outcome.err) == (0, "[]", "")


def test_invalid_flags_exit_with_usage_and_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = _run(capsys, ["deploy", "--from", "deploy/a", "--to", "deploy/b"], ROWS)
    assert outcome.status == ExitStatus.USAGE
    assert outcome.err == "meshstat: --to and --from flags are mutually exclusive\n"
    assert outcome.out == ""


def test_unknown_type_exits_with_usage_and_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = _run(capsys, ["widgets"], ROWS)
    assert outcome.status == ExitStatus.USAGE
    assert outcome.err.count("\n") == 1
    assert 'unknown resource type "widgets"' in outcome.err


def test_missing_resource_is_a_click_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, [], ROWS).status == ExitStatus.USAGE


def test_bad_clickhouse_url_exits_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = _run(capsys, ["deploy", "--clickhouse", "http://x"], ROWS)
    assert outcome.status == ExitStatus.USAGE
    assert "clickhouse://" in outcome.err


def test_clickhouse_env_var_sets_the_server(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHPIPE_CLICKHOUSE", "clickhouse://reader@ch.example:9440/stats")
    store = FakeStore(ROWS)
    run_command(capsys, "meshstat", meshstat, ["deploy"], StatEnv(clock=FakeClock(), fetch=store))
    url = store.asked[0][0]
    assert (url.host, url.port, url.user, url.database) == ("ch.example", 9440, "reader", "stats")


def test_default_clickhouse_is_the_read_only_user(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MESHPIPE_CLICKHOUSE", raising=False)
    store = FakeStore(ROWS)
    run_command(capsys, "meshstat", meshstat, ["deploy"], StatEnv(clock=FakeClock(), fetch=store))
    assert store.asked[0][0].render() == "clickhouse://meshpipe_ro@127.0.0.1:9000/meshpipe"


def test_unreachable_clickhouse_exits_unavailable_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = StatEnv(clock=FakeClock(), fetch=fetch_clickhouse)
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    args = ["deploy", "--clickhouse", "clickhouse://meshpipe_ro@127.0.0.1:1/meshpipe"]
    outcome = run_command(capsys, "meshstat", meshstat, args, env)
    assert outcome.status == ExitStatus.UNAVAILABLE
    assert outcome.err.startswith(
        "meshstat: cannot reach ClickHouse at clickhouse://meshpipe_ro@127.0.0.1:1/"
    )
    assert outcome.err.count("\n") == 1


def test_watch_refreshes_on_the_clock_and_appends_blocks_off_a_tty(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock, store = FakeClock(), FakeStore(ROWS)
    env = StatEnv(clock=clock, fetch=store, watch_refreshes=3)
    outcome = run_command(capsys, "meshstat", meshstat, ["deploy", "--watch"], env)
    assert clock.slept == [2.0, 2.0]
    assert [q.end_s for _, q in store.asked] == [NOW, NOW + 2, NOW + 4]
    assert outcome.out.count("NAME") == 3
    assert CLEAR_SCREEN not in outcome.out


def test_watch_clears_the_screen_on_a_tty(capsys: pytest.CaptureFixture[str]) -> None:
    env = StatEnv(
        terminal=Terminal(is_tty=True), clock=FakeClock(), fetch=FakeStore(ROWS), watch_refreshes=2
    )
    outcome = run_command(capsys, "meshstat", meshstat, ["deploy", "--watch"], env)
    assert outcome.out.count(CLEAR_SCREEN) == 2


NAMES = {"deployment": ["emoji", "vote-bot", "web"], "statefulset": ["db"]}


def _names(kind: str) -> list[str]:
    return NAMES.get(kind, [])


def test_completion_offers_types_first() -> None:
    assert resource_completions((), "de", _names) == ["deployment"]


def test_completion_offers_names_after_a_type() -> None:
    assert resource_completions(("deploy", "web"), "", _names) == ["emoji", "vote-bot"]


def test_completion_offers_names_after_a_slash() -> None:
    assert resource_completions((), "sts/", _names) == ["sts/db"]


def test_completion_offers_nothing_after_all_or_an_unknown_type() -> None:
    assert resource_completions(("all",), "", _names) == []
    assert resource_completions(("widgets",), "", _names) == []


def test_completion_names_are_empty_when_clickhouse_is_down() -> None:
    assert (
        clickhouse_names("clickhouse://meshpipe_ro@127.0.0.1:1/meshpipe", None)("deployment") == []
    )
