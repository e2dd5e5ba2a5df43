"""vote-bot keeps its rate on a fake clock and reaches web's JSON API through its proxy."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence

import aiohttp
import pytest
from demo_apps import RecordingProxy, running_demo

from meshpipe.demo.bot import BotSettings, WebClient, vote_steadily
from meshpipe.demo.catalog import EMOJIS
from meshpipe.demo.config import ConfigError

CODES = [e.shortcode for e in EMOJIS]


class FakeClock:
    """Time moves only when the bot sleeps or a send takes time."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def first(codes: Sequence[str]) -> str:
    return codes[0]


async def test_bot_sends_votes_at_its_rate() -> None:
    clock, sent_at = FakeClock(), []

    async def send(_code: str) -> int:
        sent_at.append(clock.now)
        return 200

    await vote_steadily(CODES, 4.0, send, clock, first, votes=5, pause=clock.sleep)
    assert sent_at == [100.0, 100.25, 100.5, 100.75, 101.0]


async def test_bot_catches_up_after_a_slow_answer_without_bursting_past_schedule() -> None:
    clock, sent_at = FakeClock(), []

    async def send(_code: str) -> int:
        sent_at.append(clock.now)
        clock.now += 0.6 if len(sent_at) == 1 else 0.0  # the first answer takes 0.6 s
        return 200

    await vote_steadily(CODES, 4.0, send, clock, first, votes=5, pause=clock.sleep)
    assert sent_at == [100.0, 100.6, 100.6, 100.75, 101.0]


async def test_bot_counts_failed_votes() -> None:
    async def send(code: str) -> int:
        return 500 if code == CODES[-1] else 200

    picks = iter([CODES[0], CODES[-1], CODES[-1]])
    clock = FakeClock()
    tally = await vote_steadily(
        CODES, 10.0, send, clock, lambda _c: next(picks), votes=3, pause=clock.sleep
    )
    assert (tally.sent, tally.failed) == (3, 2)


def test_bot_rejects_a_rate_of_zero() -> None:
    with pytest.raises(ConfigError, match="VOTE_RATE_RPS"):
        BotSettings.from_env({"VOTE_RATE_RPS": "0"})


async def test_bot_votes_through_web_via_its_http_proxy() -> None:
    async with running_demo() as demo, RecordingProxy() as proxy:
        settings = BotSettings.from_env(
            {"WEB_ADDR": f"127.0.0.1:{demo.web.port}", "http_proxy": proxy.url}
        )
        async with aiohttp.ClientSession() as session:
            client = WebClient(session, settings)
            codes = await client.shortcodes()
            status = await client.vote(codes[0])
    assert (len(codes), status) == (len(EMOJIS), 200)
    assert proxy.seen[0] == f"GET http://127.0.0.1:{demo.web.port}/api/list HTTP/1.1"


def test_sigterm_stops_the_bot_cleanly() -> None:
    """As a container's PID 1 an unhandled SIGTERM is ignored; the bot must handle it itself."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens: the bot keeps waiting for web
    env = {**os.environ, "WEB_ADDR": f"127.0.0.1:{port}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "meshpipe.demo.bot"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    assert "waiting for web" in proc.stderr.readline()  # the loop runs: signal handlers are set
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
