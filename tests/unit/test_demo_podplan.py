"""The --netns plan: apps see no mesh, sidecars are transparent, Kafka goes through relays."""

from __future__ import annotations

import pytest

from meshpipe.demo.netns import PodNetwork
from meshpipe.demo.plan import PlanError, PlanSettings
from meshpipe.demo.podplan import (
    APP_PORT,
    APP_UID,
    PROXY_UID,
    forward_port,
    kafka_address,
    pod_processes,
    service_names,
)
from meshpipe.deploy.dev.procs import ProcessSpec

SETTINGS = PlanSettings(kafka="127.0.0.1:9092", clickhouse_url="clickhouse://x@h:1/db")
NETWORK = PodNetwork(tag="ab12")
PODS = NETWORK.pods(service_names(SETTINGS.port_base))
IPS = {p.name: p.ip for p in PODS}
SHELL_ENV = {"PATH": "/usr/bin", "http_proxy": "http://corp:3128"}


def _specs() -> dict[str, ProcessSpec]:
    return {s.name: s for s in pod_processes(SETTINGS, NETWORK, PODS, SHELL_ENV)}


def test_apps_have_no_proxy_variables_and_call_peers_at_their_pod_ip() -> None:
    specs = _specs()
    for name in ("web", "emoji", "voting", "vote-bot"):
        assert not {k for k in specs[name].env if k.lower().endswith("proxy")}
    assert specs["web"].env["EMOJI_ADDR"] == f"{IPS['emoji']}:{APP_PORT}"
    assert specs["voting"].env["EMOJI_ADDR"] == f"{IPS['emoji']}:{APP_PORT}"
    assert specs["vote-bot"].env["WEB_ADDR"] == f"{IPS['web']}:{APP_PORT}"


def test_each_process_of_a_pod_runs_in_its_namespace_as_its_uid() -> None:
    specs = _specs()
    web = next(p for p in PODS if p.name == "web")
    for name, uid in (("web", APP_UID), ("web-proxy", PROXY_UID), ("web-kafka-forward", PROXY_UID)):
        argv = specs[name].argv
        assert argv[:4] == ("ip", "netns", "exec", web.netns)
        assert f"--reuid={uid}" in argv
        assert specs[name].netns == web.netns


def test_sidecars_are_transparent_with_admin_reachable_on_the_pod_ip() -> None:
    argv = list(_specs()["web-proxy"].argv)
    assert "--transparent" in argv
    assert argv[argv.index("--admin") + 1] == f"{IPS['web']}:4191"
    assert argv[argv.index("--inbound") + 1] == f"{IPS['web']}:4143=127.0.0.1:{APP_PORT}"
    assert "--inbound" not in _specs()["vote-bot-proxy"].argv


def test_kafka_is_relayed_from_the_pods_loopback_to_the_hosts_broker() -> None:
    specs = _specs()
    relay = f"{NETWORK.gateway}:{forward_port(SETTINGS.port_base)}"
    assert specs["web-kafka-forward"].argv[-2:] == ("127.0.0.1:9092", relay)
    host = specs["kafka-forward"].argv
    assert host[-4:] == (relay, "127.0.0.1:9092", "--allow", NETWORK.subnet)


def test_relays_and_worker_stop_after_the_sidecars_flush() -> None:
    last = {name for name, spec in _specs().items() if spec.stop_last}
    assert last == {"meshstreams", "kafka-forward"} | {f"{n}-kafka-forward" for n in IPS}


def test_a_broker_off_loopback_cannot_be_relayed() -> None:
    with pytest.raises(PlanError, match=r"127\.0\.0\.1 only"):
        kafka_address("10.0.0.5:9092")
