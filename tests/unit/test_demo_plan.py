"""The demo's plan: one port table, and each app configured like an injected pod."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from meshpipe.demo.plan import (
    PlanError,
    PlanSettings,
    all_ports,
    check_ports_free,
    processes,
    services,
)

SETTINGS = PlanSettings(kafka="127.0.0.1:9092", clickhouse_url="clickhouse://x@h:1/db")
SHELL_ENV = {"PATH": "/usr/bin", "http_proxy": "http://corp:3128", "NO_PROXY": "localhost"}


def _specs() -> dict[str, dict[str, str]]:
    return {spec.name: dict(spec.env) for spec in processes(SETTINGS, SHELL_ENV)}


def test_every_listener_in_the_port_table_has_its_own_port() -> None:
    table = services(SETTINGS.port_base)
    ports = [
        p
        for s in table
        for p in (s.ports.app, s.ports.inbound, s.ports.outbound, s.ports.admin)
        if p is not None
    ]
    assert len(ports) == len(set(ports)) == len(all_ports(SETTINGS.port_base)) - 1


def test_each_app_uses_its_own_sidecar_as_http_proxy_and_peers_through_their_sidecars() -> None:
    table = {s.name: s.ports for s in services(SETTINGS.port_base)}
    env = _specs()
    assert env["web"]["http_proxy"] == f"http://127.0.0.1:{table['web'].outbound}"
    assert env["web"]["EMOJI_ADDR"] == f"127.0.0.1:{table['emoji'].inbound}"
    assert env["voting"]["EMOJI_ADDR"] == f"127.0.0.1:{table['emoji'].inbound}"
    assert env["vote-bot"]["WEB_ADDR"] == f"127.0.0.1:{table['web'].inbound}"


def test_the_shells_proxy_variables_do_not_reach_the_demo() -> None:
    env = _specs()
    assert "NO_PROXY" not in env["web"]
    assert "http_proxy" not in env["web-proxy"]


def test_each_sidecar_fronts_its_app_and_names_its_workload() -> None:
    web = next(s for s in processes(SETTINGS, SHELL_ENV) if s.name == "web-proxy")
    ports = next(s.ports for s in services(SETTINGS.port_base) if s.name == "web")
    argv = list(web.argv)
    assert argv[argv.index("--workload") + 1] == "emojivoto/deployment/web"
    assert argv[argv.index("--inbound") + 1] == f"127.0.0.1:{ports.inbound}=127.0.0.1:{ports.app}"


def test_a_busy_port_is_named_in_the_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        base = port - services(0)[0].ports.inbound  # put emoji's inbound on the busy port
        with pytest.raises(PlanError, match=f"{port} \\(emoji inbound\\)"):
            check_ports_free(base)
