"""The emoji service: gRPC ListAll and FindByShortcode, plus the old HTTP/1 lookup (failing low)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from aiohttp import web

from meshpipe.demo.catalog import EMOJIS, Emoji, find, old_endpoint_breaks_on
from meshpipe.demo.config import address, split
from meshpipe.demo.gen import emojivoto_pb2 as pb
from meshpipe.demo.gen import emojivoto_pb2_grpc as pb_grpc
from meshpipe.demo.mux import MuxTargets, PortMux
from meshpipe.demo.serving import HttpSite, run_app

LEGACY_PATH = "/api/find-by-shortcode"
INTERNAL = "127.0.0.1:0"  # the gRPC and HTTP/1 servers behind the shared port


@dataclass(frozen=True)
class EmojiSettings:
    listen: str = "127.0.0.1:8080"  # HOST:PORT serving both gRPC and the old HTTP/1 endpoint

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EmojiSettings:
        return cls(listen=address(env, "LISTEN_ADDR", cls.listen))


def to_message(emoji: Emoji) -> pb.Emoji:
    return pb.Emoji(shortcode=emoji.shortcode, unicode=emoji.unicode)


class EmojiServicer(pb_grpc.EmojiServiceServicer):
    """The current API: the whole catalogue, and lookups that always work."""

    async def ListAll(
        self, request: pb.ListAllRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAllResponse:
        return pb.ListAllResponse(list=[to_message(e) for e in EMOJIS])

    async def FindByShortcode(
        self, request: pb.FindByShortcodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.FindByShortcodeResponse:
        emoji = find(request.shortcode)
        if emoji is None:
            return pb.FindByShortcodeResponse()
        return pb.FindByShortcodeResponse(emoji=to_message(emoji))


async def legacy_find_by_shortcode(request: web.Request) -> web.Response:
    """The old HTTP/1 lookup, left behind when the API moved to gRPC: 500 for the lower part."""
    shortcode = request.query.get("shortcode", "")
    if old_endpoint_breaks_on(shortcode):
        return web.json_response(
            {"error": f"legacy lookup failed for {shortcode}: index out of range"}, status=500
        )
    emoji = find(shortcode)
    if emoji is None:
        return web.json_response({"error": f"no emoji {shortcode!r}"}, status=404)
    return web.json_response({"shortcode": emoji.shortcode, "unicode": emoji.unicode})


def legacy_app() -> web.Application:
    app = web.Application()
    app.router.add_get(LEGACY_PATH, legacy_find_by_shortcode)
    return app


class EmojiApp:
    """gRPC and HTTP/1 on loopback ports of their own, shared through one listening port."""

    def __init__(self, settings: EmojiSettings) -> None:
        self.settings = settings
        self.port = 0
        self._grpc: grpc.aio.Server | None = None
        self._http = HttpSite(legacy_app())
        self._mux: PortMux | None = None

    async def start(self) -> None:
        # A grpc.aio server belongs to the running loop, so it is made here, not in __init__.
        self._grpc = grpc.aio.server()
        pb_grpc.add_EmojiServiceServicer_to_server(EmojiServicer(), self._grpc)
        grpc_port = self._grpc.add_insecure_port(INTERNAL)
        await self._grpc.start()
        http_port = await self._http.start(INTERNAL)
        host = split(INTERNAL)[0]
        self._mux = PortMux(MuxTargets(h2=(host, grpc_port), http1=(host, http_port)))
        self.port = await self._mux.start(*split(self.settings.listen))

    async def stop(self) -> None:
        if self._mux is not None:
            await self._mux.close()
        await self._http.stop()
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)


def main() -> int:
    return run_app("emoji", lambda env: EmojiApp(EmojiSettings.from_env(env)))


if __name__ == "__main__":
    raise SystemExit(main())
