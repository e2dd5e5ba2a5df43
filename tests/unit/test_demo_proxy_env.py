"""The demo apps' egress honours the standard proxy variables, as an injected pod's would."""

from __future__ import annotations

from demo_apps import RecordingProxy, call, running_demo

from meshpipe.demo.catalog import EMOJIS

TOP = EMOJIS[0].shortcode


async def test_voting_sends_its_http1_lookup_through_http_proxy() -> None:
    async with (
        RecordingProxy() as proxy,
        running_demo(voting_env={"http_proxy": proxy.url}) as demo,
    ):
        status, _ = await call(demo.web_url, "POST", "/api/vote", {"choice": TOP})
        emoji_port = demo.emoji.port
    assert status == 200
    assert proxy.seen == [
        f"GET http://127.0.0.1:{emoji_port}/api/find-by-shortcode?shortcode={TOP} HTTP/1.1"
    ]


async def test_web_tunnels_grpc_through_grpc_proxy_with_connect() -> None:
    async with RecordingProxy() as proxy, running_demo(web_env={"grpc_proxy": proxy.url}) as demo:
        status, _ = await call(demo.web_url, "POST", "/api/vote", {"choice": TOP})
        targets = {
            f"CONNECT 127.0.0.1:{demo.emoji.port} HTTP/1.1",
            f"CONNECT 127.0.0.1:{demo.voting.port} HTTP/1.1",
        }
    assert status == 200
    assert set(proxy.seen) == targets


async def test_web_tunnels_grpc_through_http_proxy_when_grpc_proxy_is_unset() -> None:
    async with RecordingProxy() as proxy, running_demo(web_env={"http_proxy": proxy.url}) as demo:
        status, _ = await call(demo.web_url, "GET", "/api/list")
        emoji_port = demo.emoji.port
    assert status == 200
    assert proxy.seen == [f"CONNECT 127.0.0.1:{emoji_port} HTTP/1.1"]
