"""The web front end: an HTML voting page and a JSON API over the emoji and voting gRPC services."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from aiohttp import web

from meshpipe.demo.config import address, grpc_channel_options
from meshpipe.demo.gen import emojivoto_pb2 as pb
from meshpipe.demo.gen import emojivoto_pb2_grpc as pb_grpc
from meshpipe.demo.serving import HttpSite, run_app

RPC_TIMEOUT_S = 5.0
ChannelOptions = tuple[tuple[str, str | int], ...]


@dataclass(frozen=True)
class WebSettings:
    listen: str = "127.0.0.1:8082"  # HOST:PORT of the HTTP/1.1 server
    emoji_addr: str = "127.0.0.1:8080"  # HOST:PORT of the emoji gRPC service
    voting_addr: str = "127.0.0.1:8081"  # HOST:PORT of the voting gRPC service
    channel_options: ChannelOptions = ()  # gRPC channel arguments (the proxy variables)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebSettings:
        return cls(
            listen=address(env, "LISTEN_ADDR", cls.listen),
            emoji_addr=address(env, "EMOJI_ADDR", cls.emoji_addr),
            voting_addr=address(env, "VOTING_ADDR", cls.voting_addr),
            channel_options=tuple(grpc_channel_options(env)),
        )


@dataclass(frozen=True)
class Backends:
    emoji: pb_grpc.EmojiServiceStub
    voting: pb_grpc.VotingServiceStub


BACKENDS = web.AppKey("backends", Backends)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def list_emojis(request: web.Request) -> web.Response:
    backends = request.app[BACKENDS]
    try:
        reply = await backends.emoji.ListAll(pb.ListAllRequest(), timeout=RPC_TIMEOUT_S)
    except grpc.aio.AioRpcError as exc:
        return _error(500, f"emoji: {exc.details()}")
    return web.json_response([{"shortcode": e.shortcode, "unicode": e.unicode} for e in reply.list])


async def vote(request: web.Request) -> web.Response:
    """POST /api/vote?choice=:shortcode: — checks the emoji, then records the vote."""
    backends = request.app[BACKENDS]
    choice = request.query.get("choice", "")
    try:
        found = await backends.emoji.FindByShortcode(
            pb.FindByShortcodeRequest(shortcode=choice), timeout=RPC_TIMEOUT_S
        )
    except grpc.aio.AioRpcError as exc:
        return _error(500, f"emoji: {exc.details()}")
    if not found.HasField("emoji"):
        return _error(404, f"no emoji {choice!r}")
    try:
        await backends.voting.Vote(pb.VoteRequest(shortcode=choice), timeout=RPC_TIMEOUT_S)
    except grpc.aio.AioRpcError as exc:
        return _error(500, f"voting: {exc.details()}")
    return web.json_response({"voted": choice})


async def leaderboard(request: web.Request) -> web.Response:
    backends = request.app[BACKENDS]
    try:
        emojis = await backends.emoji.ListAll(pb.ListAllRequest(), timeout=RPC_TIMEOUT_S)
        results = await backends.voting.Results(pb.ResultsRequest(), timeout=RPC_TIMEOUT_S)
    except grpc.aio.AioRpcError as exc:
        return _error(500, exc.details() or str(exc.code()))
    symbols = {e.shortcode: e.unicode for e in emojis.list}
    return web.json_response(
        [
            {"shortcode": r.shortcode, "unicode": symbols.get(r.shortcode, ""), "votes": r.votes}
            for r in results.results
        ]
    )


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Emoji Vote</title>
<style>body{{font-family:sans-serif}} button{{font-size:2em;margin:.2em}}</style></head>
<body><h1>🗳 Emoji Vote</h1><p>Pick your favourite. <a href="/api/leaderboard">Leaderboard</a></p>
<div>{buttons}</div><p id="result"></p>
<script>
async function vote(code) {{
  const r = await fetch('/api/vote?choice=' + encodeURIComponent(code), {{method: 'POST'}});
  const body = await r.json();
  document.getElementById('result').textContent =
    r.ok ? 'Voted for ' + code : 'Error ' + r.status + ': ' + body.error;
}}
</script></body></html>
"""


async def index(request: web.Request) -> web.Response:
    backends = request.app[BACKENDS]
    try:
        reply = await backends.emoji.ListAll(pb.ListAllRequest(), timeout=RPC_TIMEOUT_S)
    except grpc.aio.AioRpcError as exc:
        return web.Response(status=500, text=f"emoji: {exc.details()}")
    buttons = "".join(
        f'<button title="{html.escape(e.shortcode)}" '
        f'onclick="vote({html.escape(repr(e.shortcode))})">{e.unicode}</button>'
        for e in reply.list
    )
    return web.Response(text=PAGE.format(buttons=buttons), content_type="text/html")


def build_app(backends: Backends) -> web.Application:
    app = web.Application()
    app[BACKENDS] = backends
    app.router.add_get("/", index)
    app.router.add_get("/api/list", list_emojis)
    app.router.add_post("/api/vote", vote)
    app.router.add_get("/api/leaderboard", leaderboard)
    return app


class WebApp:
    """The HTTP server and its two gRPC channels."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.port = 0
        self._channels: list[grpc.aio.Channel] = []
        self._http: HttpSite | None = None

    async def start(self) -> None:
        # grpc.aio channels belong to the running loop, so they are made here, not in __init__.
        options = list(self.settings.channel_options)
        emoji = grpc.aio.insecure_channel(self.settings.emoji_addr, options=options)
        voting = grpc.aio.insecure_channel(self.settings.voting_addr, options=options)
        self._channels = [emoji, voting]
        backends = Backends(pb_grpc.EmojiServiceStub(emoji), pb_grpc.VotingServiceStub(voting))
        self._http = HttpSite(build_app(backends))
        self.port = await self._http.start(self.settings.listen)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.stop()
        for channel in self._channels:
            await channel.close()


def main() -> int:
    return run_app("web", lambda env: WebApp(WebSettings.from_env(env)))


if __name__ == "__main__":
    raise SystemExit(main())
