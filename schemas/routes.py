"""Route names found from requests alone: gRPC methods as they are, HTTP paths as templates.

No ServiceProfile is needed: a request's route is `METHOD /template`, where the template is the
path without query string or fragment, percent-decoded per segment, without empty segments (so
no trailing slash), and with each segment that looks like data replaced by a placeholder:

| segment | example | becomes |
|---|---|---|
| decimal digits (fewer than 32) | `8812` | `{id}` |
| a UUID (any version, any case) | `3f2b…-…` | `{uuid}` |
| a date, ISO 8601 | `2026-12-07`, `2026-12-07T18:00:00Z` | `{date}` |
| an e-mail address | `ann@example.com` | `{email}` |
| hex, 32 digits or more (md5, sha1, sha256, …) | `9e107d9d372bb6826bd81d3542a419d6` | `{hash}` |
| hex of 8-31 digits with at least one decimal digit | `5f1d7a0c`, a 24-digit ObjectId | `{id}` |
| token: 20+ of `A-Za-z0-9_-` with 2+ digits and a letter | a session key | `{token}` |
| anything else | `orders`, `api`, `v1` | itself |

A segment that is a placeholder candidate with a file extension keeps it (`8812.png` →
`{id}.png`). A gRPC request (`/pkg.Service/Method`) keeps its path, which names the method.

Cardinality is bounded by `RouteCap`: per route table (one resource's server side, or its
calls to one target) the busiest `limit` routes are kept and all other requests are counted,
exactly, under the route `[overflow]`.

This is contract: whoever names a route (meshstat, the dashboard, a live top from tap) must
name it the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote

OVERFLOW_ROUTE = "[overflow]"
DEFAULT_ROUTE_LIMIT = 100  # routes per table; a real API rarely has more templates

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?")
_EMAIL = re.compile(r"[^@/\s]+@[^@/\s]+\.[^@/\s]+")
_HEX = re.compile(r"[0-9a-fA-F]+")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,}")
_EXTENSION = re.compile(r"(.+)(\.[A-Za-z][A-Za-z0-9]{0,4})")
_GRPC_PATH = re.compile(r"/[A-Za-z_][\w.]*/[A-Za-z_]\w*")
_HASH_MIN_DIGITS = 32
_HEX_ID_MIN_DIGITS = 8
_TOKEN_MIN_DIGITS = 2


def _placeholder(segment: str) -> str | None:
    """The placeholder a whole (decoded) segment stands for, or None when it is literal."""
    if _HEX.fullmatch(segment) and len(segment) >= _HASH_MIN_DIGITS:
        return "{hash}"  # before decimal ids: a hash may happen to hold no letter
    if segment.isdecimal() and segment.isascii():
        return "{id}"
    if _UUID.fullmatch(segment):
        return "{uuid}"
    if _DATE.fullmatch(segment):
        return "{date}"
    if _EMAIL.fullmatch(segment):
        return "{email}"
    digits = sum(c.isdigit() for c in segment)
    if _HEX.fullmatch(segment) and len(segment) >= _HEX_ID_MIN_DIGITS and digits:
        return "{id}"
    if (
        _TOKEN.fullmatch(segment)
        and digits >= _TOKEN_MIN_DIGITS
        and any(c.isalpha() for c in segment)
    ):
        return "{token}"
    return None


def template_segment(segment: str) -> str:
    """One path segment as it appears in a route: a placeholder or the decoded text."""
    text = unquote(segment).replace("/", "%2F")  # a decoded slash must not split the route
    found = _placeholder(text)
    if found is not None:
        return found
    with_extension = _EXTENSION.fullmatch(text)
    if with_extension is not None:
        base = _placeholder(with_extension.group(1))
        if base is not None:
            return base + with_extension.group(2)
    return text


def strip_query(path: str) -> str:
    """The path without `?query` and `#fragment`."""
    return path.split("?", 1)[0].split("#", 1)[0]


def template_path(path: str) -> str:
    """The route template of a request path (`/users/8812/orders/?a=1` → `/users/{id}/orders`)."""
    segments = [template_segment(s) for s in strip_query(path).split("/") if s]
    return "/" + "/".join(segments)


def is_grpc_path(path: str) -> bool:
    """A gRPC method path, `/package.Service/Method`."""
    return _GRPC_PATH.fullmatch(path) is not None


def route_name(method: str, path: str, grpc: bool) -> str:
    """The route of one request: a gRPC method path as it is, else `METHOD /template`."""
    if grpc and is_grpc_path(strip_query(path)):
        return strip_query(path)
    template = template_path(path)
    return f"{method.upper()} {template}" if method else template


K = TypeVar("K")
T = TypeVar("T")


@dataclass(frozen=True)
class RouteCap:
    """At most `limit` routes per table, the overflow row included; the rest merged into it."""

    limit: int = DEFAULT_ROUTE_LIMIT

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"route limit must be at least 1, got {self.limit}")

    def apply(
        self,
        routes: Mapping[K, T],
        weight: Callable[[T], int],
        merge: Callable[[Iterable[T]], T],
        overflow: K,
    ) -> dict[K, T]:
        """routes with the heaviest kept (ties by key) and the others merged under overflow."""
        if len(routes) <= self.limit:
            return dict(routes)
        ranked = sorted(routes, key=lambda key: (-weight(routes[key]), str(key)))
        kept = {key: routes[key] for key in ranked[: self.limit - 1]}
        kept[overflow] = merge(routes[key] for key in ranked[self.limit - 1 :])
        return kept
