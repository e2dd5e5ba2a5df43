"""Routes found from paths: templates of real-looking paths, gRPC methods, and the cap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshpipe.schemas.routes import (
    OVERFLOW_ROUTE,
    RouteCap,
    route_name,
    template_path,
)


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("GET", "/api/vote?choice=:santa:", "GET /api/vote"),
        ("GET", "/users/8812/orders", "GET /users/{id}/orders"),
        ("GET", "/users/8812/orders/", "GET /users/{id}/orders"),
        ("get", "//users//8812", "GET /users/{id}"),
        ("GET", "/", "GET /"),
        ("GET", "", "GET /"),
        ("GET", "/?q=1", "GET /"),
        ("DELETE", "/items/3f2b9c1e-7d4a-4e2b-9c1e-7d4a4e2b9c1e", "DELETE /items/{uuid}"),
        ("GET", "/items/3F2B9C1E-7D4A-4E2B-9C1E-7D4A4E2B9C1E#top", "GET /items/{uuid}"),
        ("GET", "/blobs/9e107d9d372bb6826bd81d3542a419d6", "GET /blobs/{hash}"),
        (
            "GET",
            "/commits/2fd4e1c67a2d28fced849ee1bb76e7391b93eb12/files",
            "GET /commits/{hash}/files",
        ),
        ("GET", "/orders/5f1d7a0c9b1e8a2d3c4b5a69", "GET /orders/{id}"),
        ("GET", "/reports/2026-12-07/summary", "GET /reports/{date}/summary"),
        ("GET", "/events/2026-12-07T18:00:00Z", "GET /events/{date}"),
        ("GET", "/users/ann%40example.com/avatar", "GET /users/{email}/avatar"),
        ("GET", "/users/ann@example.com", "GET /users/{email}"),
        ("GET", "/s/aZ3kQ9xP_2mL7vR1tY8w-Q", "GET /s/{token}"),
        ("GET", "/img/8812.png", "GET /img/{id}.png"),
        ("GET", "/search/caf%C3%A9", "GET /search/café"),
        ("GET", "/files/a%2Fb/raw", "GET /files/a%2Fb/raw"),
        ("GET", "/users/%38%38%31%32", "GET /users/{id}"),
        ("GET", "/api/v1/list", "GET /api/v1/list"),
        ("GET", "/api/find-by-shortcode", "GET /api/find-by-shortcode"),
        ("GET", "/static/main.js", "GET /static/main.js"),
        ("GET", "/feed/deadbeef", "GET /feed/deadbeef"),
        (
            "POST",
            "/emojivoto.v1.VotingService/VoteDoughnut",
            "POST /emojivoto.v1.VotingService/VoteDoughnut",
        ),
    ],
)
def test_http_paths_become_method_and_template(method: str, path: str, route: str) -> None:
    assert route_name(method, path, grpc=False) == route


def test_grpc_methods_are_kept_as_they_are() -> None:
    path = "/emojivoto.v1.VotingService/VoteDoughnut"
    assert route_name("POST", path, grpc=True) == path
    assert route_name("POST", "/grpc.health.v1.Health/Check", grpc=True) == (
        "/grpc.health.v1.Health/Check"
    )


def test_a_grpc_request_with_a_non_method_path_is_templated() -> None:
    assert route_name("POST", "/users/12", grpc=True) == "POST /users/{id}"


@given(st.integers(min_value=0, max_value=10**31 - 1))
def test_every_decimal_id_gives_the_same_route(number: int) -> None:
    assert template_path(f"/users/{number}/orders") == "/users/{id}/orders"


@given(st.uuids())
def test_every_uuid_gives_the_same_route(value: object) -> None:
    assert template_path(f"/items/{value}") == "/items/{uuid}"


@given(st.binary(min_size=16, max_size=64))
def test_every_long_hex_hash_gives_the_same_route(value: bytes) -> None:
    assert template_path(f"/blobs/{value.hex()}") == "/blobs/{hash}"


@given(st.text())
def test_templates_start_with_a_slash_and_have_no_empty_segments(path: str) -> None:
    template = template_path(path)
    assert template.startswith("/")
    assert template == "/" or (not template.endswith("/") and "//" not in template)


@given(st.text(alphabet="/abc019%"), st.text())
def test_a_query_string_never_changes_the_template(path: str, query: str) -> None:
    assert template_path(f"{path}?{query}") == template_path(path)


def _count(value: int) -> int:
    return value


def test_a_flood_of_unique_paths_stays_under_the_cap_with_the_rest_as_overflow() -> None:
    cap = RouteCap(limit=10)
    routes: dict[str, int] = {}
    for i in range(5000):
        name = route_name("GET", f"/search/term-word{chr(97 + i % 26)}{i}x", grpc=False)
        routes[name] = routes.get(name, 0) + 1
    routes["GET /api/list"] = 100
    capped = cap.apply(routes, _count, sum, OVERFLOW_ROUTE)
    assert len(capped) == 10
    assert capped["GET /api/list"] == 100
    assert OVERFLOW_ROUTE in capped
    assert sum(capped.values()) == 5100


def test_routes_within_the_cap_are_kept_unchanged() -> None:
    routes = {"GET /a": 3, "GET /b": 1}
    assert RouteCap(limit=2).apply(routes, _count, sum, OVERFLOW_ROUTE) == routes


def test_the_cap_keeps_the_busiest_routes_ties_by_name() -> None:
    routes = {"GET /c": 5, "GET /a": 1, "GET /b": 1, "GET /d": 1}
    assert RouteCap(limit=3).apply(routes, _count, sum, OVERFLOW_ROUTE) == {
        "GET /c": 5,
        "GET /a": 1,
        OVERFLOW_ROUTE: 2,
    }


def test_a_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RouteCap(limit=0)
