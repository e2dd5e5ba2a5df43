"""The voting service: counts votes over gRPC, checking shortcodes via emoji's OLD HTTP/1 API."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import grpc

from meshpipe.demo.config import address, http_proxy
from meshpipe.demo.gen import emojivoto_pb2 as pb
from meshpipe.demo.gen import emojivoto_pb2_grpc as pb_grpc
from meshpipe.demo.serving import run_app

LEGACY_PATH = "/api/find-by-shortcode"  # the voting team missed the move to gRPC
LOOKUP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class VotingSettings:
    listen: str = "127.0.0.1:8081"  # HOST:PORT of the gRPC server
    emoji_addr: str = "127.0.0.1:8080"  # HOST:PORT of the emoji service
    http_proxy: str | None = None  # egress proxy URL for HTTP/1 calls (from http_proxy)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> VotingSettings:
        return cls(
            listen=address(env, "LISTEN_ADDR", cls.listen),
            emoji_addr=address(env, "EMOJI_ADDR", cls.emoji_addr),
            http_proxy=http_proxy(env),
        )


class LookupFailed(Exception):
    """The emoji lookup did not answer usefully (an error status or no answer at all)."""


class UnknownEmoji(LookupFailed):
    """The emoji service does not know the shortcode."""


class LegacyEmojiLookup:
    """Validates shortcodes with `GET /api/find-by-shortcode` on the emoji service over HTTP/1."""

    def __init__(self, session: aiohttp.ClientSession, settings: VotingSettings) -> None:
        self._session = session
        self._url = f"http://{settings.emoji_addr}{LEGACY_PATH}"
        self._proxy = settings.http_proxy

    async def check(self, shortcode: str) -> None:
        try:
            async with self._session.get(
                self._url, params={"shortcode": shortcode}, proxy=self._proxy
            ) as response:
                body = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LookupFailed(f"emoji {LEGACY_PATH} unreachable: {exc}") from exc
        if status == 404:
            raise UnknownEmoji(f"emoji {LEGACY_PATH} does not know {shortcode}")
        if status != 200:
            raise LookupFailed(f"emoji {LEGACY_PATH} answered {status} for {shortcode}: {body}")


class VotingServicer(pb_grpc.VotingServiceServicer):
    """Vote counts in memory, most votes first in Results."""

    def __init__(self, lookup: LegacyEmojiLookup) -> None:
        self._lookup = lookup
        self._votes: collections.Counter[str] = collections.Counter()

    async def Vote(
        self, request: pb.VoteRequest, context: grpc.aio.ServicerContext
    ) -> pb.VoteResponse:
        try:
            await self._lookup.check(request.shortcode)
        except UnknownEmoji as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except LookupFailed as exc:
            await context.abort(grpc.StatusCode.INTERNAL, str(exc))
        self._votes[request.shortcode] += 1
        return pb.VoteResponse()

    async def Results(
        self, request: pb.ResultsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResultsResponse:
        return pb.ResultsResponse(
            results=[
                pb.VotingResult(shortcode=code, votes=count)
                for code, count in self._votes.most_common()
            ]
        )


class VotingApp:
    """The gRPC server and the HTTP client session it validates votes with."""

    def __init__(self, settings: VotingSettings) -> None:
        self.settings = settings
        self.port = 0
        self._grpc: grpc.aio.Server | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # grpc.aio servers and aiohttp sessions belong to the running loop: made here.
        self._grpc = grpc.aio.server()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=LOOKUP_TIMEOUT_S))
        servicer = VotingServicer(LegacyEmojiLookup(self._session, self.settings))
        pb_grpc.add_VotingServiceServicer_to_server(servicer, self._grpc)
        self.port = self._grpc.add_insecure_port(self.settings.listen)
        await self._grpc.start()

    async def stop(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)
        if self._session is not None:
            await self._session.close()


def main() -> int:
    return run_app("voting", lambda env: VotingApp(VotingSettings.from_env(env)))


if __name__ == "__main__":
    raise SystemExit(main())
