"""Reads a demo app's environment: listen and peer addresses, and the standard proxy variables."""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(ValueError):
    """An environment variable the app cannot use; the message names it."""


def address(env: Mapping[str, str], name: str, default: str) -> str:
    """A HOST:PORT variable, checked; default when unset or empty."""
    value = env.get(name) or default
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{name} must be HOST:PORT, e.g. 127.0.0.1:8080; got {value!r}")
    return value


def split(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host.strip("[]"), int(port)


def http_proxy(env: Mapping[str, str]) -> str | None:
    """The HTTP/1 egress proxy URL as curl and aiohttp read it (http_proxy, then HTTP_PROXY)."""
    return env.get("http_proxy") or env.get("HTTP_PROXY") or None


def grpc_proxy(env: Mapping[str, str]) -> str | None:
    """The proxy gRPC core picks from env: grpc_proxy, then https_proxy, then http_proxy."""
    for name in ("grpc_proxy", "https_proxy", "http_proxy"):
        if env.get(name):
            return env[name]
    return None


def grpc_channel_options(env: Mapping[str, str]) -> list[tuple[str, str | int]]:
    """Channel arguments that make a channel follow env's proxy variables, not the process's.

    gRPC core reads the same variables from the process environment; passing them as channel
    arguments gives the same CONNECT tunnelling while letting tests use their own environment.
    """
    proxy = grpc_proxy(env)
    if proxy is None:
        return [("grpc.enable_http_proxy", 0)]
    return [("grpc.http_proxy", proxy)]


def positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be above zero, got {raw!r}")
    return value
