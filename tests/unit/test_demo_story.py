"""How `meshctl demo --check` judges the JSON of each story step."""

from __future__ import annotations

from meshpipe.demo.story import STEPS, expect, judge_tap, parse_output


def test_overview_passes_when_web_and_voting_fail_partly() -> None:
    rows = [{"name": "web", "success": 0.5}, {"name": "voting", "success": 0.49}]
    assert STEPS[0].judge(rows)[0]


def test_a_full_success_where_failures_are_expected_fails_the_step() -> None:
    passed, seen = expect([{"name": "voting", "success": 1.0}], {"voting": "partial"})
    assert not passed
    assert seen == "voting 100% (want below 100%)"


def test_a_missing_row_fails_the_step() -> None:
    passed, seen = expect([], {"emoji": "full"})
    assert not passed
    assert "emoji no data" in seen


def test_tap_passes_on_a_500_from_the_old_endpoint() -> None:
    events = parse_output(
        "meshtap",
        '{"path": "/api/find-by-shortcode?shortcode=:unicorn:", "http_status": 500}\n'
        '{"path": "/emojivoto.v1.VotingService/Vote", "http_status": 200}\n',
    )
    assert judge_tap(events) == (True, "1 of 2 events are :status=500 on /api/find-by-shortcode")


def test_tap_fails_when_only_grpc_calls_fail() -> None:
    events = [{"request": {"path": "/emojivoto.v1.VotingService/Vote"}, "httpStatus": 500}]
    assert not judge_tap(events)[0]


def test_meshstat_json_list_is_parsed_into_rows() -> None:
    assert parse_output("meshstat", '[{"name": "web"}]') == [{"name": "web"}]
