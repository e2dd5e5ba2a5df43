"""vote-bot: votes for random emojis through web's JSON API at a steady, configurable rate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from meshpipe.demo.config import ConfigError, address, http_proxy, positive_float
from meshpipe.demo.serving import configure_logging
from meshpipe.schemas.clock import Clock, SystemClock

LIST_RETRY_S = 1.0
REQUEST_TIMEOUT_S = 5.0
REPORT_EVERY = 100  # votes between progress lines in the log

Send = Callable[[str], Awaitable[int]]  # shortcode -> HTTP status (0: no answer)
Choose = Callable[[Sequence[str]], str]


@dataclass(frozen=True)
class BotSettings:
    web_addr: str = "127.0.0.1:8082"  # HOST:PORT of web
    rate_rps: float = 5.0  # votes per second
    http_proxy: str | None = None  # egress proxy URL (from http_proxy)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BotSettings:
        return cls(
            web_addr=address(env, "WEB_ADDR", cls.web_addr),
            rate_rps=positive_float(env, "VOTE_RATE_RPS", cls.rate_rps),
            http_proxy=http_proxy(env),
        )


Pause = Callable[[float], Awaitable[None]]  # asyncio.sleep, or a fake clock's


@dataclass
class Tally:
    sent: int = 0
    failed: int = 0


async def vote_steadily(
    shortcodes: Sequence[str],
    rate_rps: float,
    send: Send,
    clock: Clock,
    choose: Choose = random.choice,
    votes: int | None = None,
    pause: Pause = asyncio.sleep,
) -> Tally:
    """Send votes on a fixed schedule (start + n/rate), catching up after slow answers.

    Stops after `votes` votes, or never when None.
    """
    tally = Tally()
    start = clock.monotonic()
    while votes is None or tally.sent < votes:
        due = start + tally.sent / rate_rps
        delay = due - clock.monotonic()
        if delay > 0:
            await pause(delay)
        status = await send(choose(shortcodes))
        tally.sent += 1
        if status != 200:
            tally.failed += 1
        if tally.sent % REPORT_EVERY == 0:
            logging.getLogger("vote-bot").info("%d votes, %d failed", tally.sent, tally.failed)
    return tally


class WebClient:
    """web's JSON API as the bot uses it, through the egress proxy when one is configured."""

    def __init__(self, session: aiohttp.ClientSession, settings: BotSettings) -> None:
        self._session = session
        self._base = f"http://{settings.web_addr}"
        self._proxy = settings.http_proxy

    async def shortcodes(self) -> list[str]:
        async with self._session.get(f"{self._base}/api/list", proxy=self._proxy) as response:
            response.raise_for_status()
            body = await response.json()
        return [str(item["shortcode"]) for item in body]

    async def vote(self, shortcode: str) -> int:
        try:
            async with self._session.post(
                f"{self._base}/api/vote", params={"choice": shortcode}, proxy=self._proxy
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return 0


async def wait_for_list(client: WebClient, pause: Pause = asyncio.sleep) -> list[str]:
    """The emoji list from web, retried until web answers (it may start after the bot)."""
    log = logging.getLogger("vote-bot")
    while True:
        try:
            return await client.shortcodes()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("waiting for web: %s", exc)
        await pause(LIST_RETRY_S)


async def run(settings: BotSettings) -> None:
    clock = SystemClock()
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = WebClient(session, settings)
        shortcodes = await wait_for_list(client)
        logging.getLogger("vote-bot").info(
            "voting at %.1f/s over %d emojis", settings.rate_rps, len(shortcodes)
        )
        await vote_steadily(shortcodes, settings.rate_rps, client.vote, clock)


async def run_until_terminated(settings: BotSettings) -> None:
    """run(), cancelled by SIGTERM: as a container's PID 1 the bot would otherwise ignore it and
    hold its pod in Terminating for the whole grace period."""
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await run(settings)


def main() -> int:
    configure_logging()
    try:
        settings = BotSettings.from_env(os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"vote-bot: {exc}\n")
        return 2
    # Ctrl-C is the normal way to stop the bot; SIGTERM is Kubernetes'.
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(run_until_terminated(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
