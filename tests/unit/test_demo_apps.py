"""The demo apps without the mesh: top votes work, bottom votes fail in voting's HTTP/1 call."""

from __future__ import annotations

import json

from demo_apps import call, running_demo

from meshpipe.demo.catalog import BROKEN_FROM, EMOJIS

TOP = EMOJIS[0].shortcode
BOTTOM = EMOJIS[-1].shortcode


async def test_vote_for_a_top_emoji_is_counted() -> None:
    async with running_demo() as demo:
        status, _ = await call(demo.web_url, "POST", "/api/vote", {"choice": TOP})
        _, board = await call(demo.web_url, "GET", "/api/leaderboard")
    assert status == 200
    assert json.loads(board) == [{"shortcode": TOP, "unicode": EMOJIS[0].unicode, "votes": 1}]


async def test_vote_for_a_bottom_emoji_fails_with_votings_http1_error() -> None:
    async with running_demo() as demo:
        status, body = await call(demo.web_url, "POST", "/api/vote", {"choice": BOTTOM})
        _, board = await call(demo.web_url, "GET", "/api/leaderboard")
    assert status == 500
    assert json.loads(body)["error"].startswith("voting: emoji /api/find-by-shortcode answered 500")
    assert json.loads(board) == []


async def test_vote_for_an_unknown_emoji_is_not_found() -> None:
    async with running_demo() as demo:
        status, _ = await call(demo.web_url, "POST", "/api/vote", {"choice": ":nope:"})
    assert status == 404


async def test_list_returns_the_whole_catalogue_over_grpc() -> None:
    async with running_demo() as demo:
        _, listed = await call(demo.web_url, "GET", "/api/list")
    assert [e["shortcode"] for e in json.loads(listed)] == [e.shortcode for e in EMOJIS]


async def test_page_has_a_vote_button_per_emoji() -> None:
    async with running_demo() as demo:
        _, page = await call(demo.web_url, "GET", "/")
    assert page.count("<button") == len(EMOJIS)


async def test_emoji_old_endpoint_fails_exactly_for_the_lower_part_on_the_shared_port() -> None:
    async with running_demo() as demo:
        emoji_url = f"http://127.0.0.1:{demo.emoji.port}"
        statuses = [
            (await call(emoji_url, "GET", "/api/find-by-shortcode", {"shortcode": e.shortcode}))[0]
            for e in EMOJIS
        ]
    assert statuses == [200] * BROKEN_FROM + [500] * (len(EMOJIS) - BROKEN_FROM)
