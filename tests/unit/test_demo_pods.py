"""The pods' names, addresses and redirect rules, and undoing a half-built pod network."""

from __future__ import annotations

import ipaddress

import pytest

from meshpipe.demo.netns import (
    NetnsError,
    NetnsUnavailable,
    PodNetwork,
    PodNetworkSetup,
    Redirect,
    in_netns,
    redirect_rules,
    require_netns,
)

NETWORK = PodNetwork(tag="ab12")
NAMES = ("emoji", "voting", "web", "vote-bot")


class FakeIp:
    """Records ip/iptables commands; fails the one that contains `fail_on`."""

    def __init__(self, fail_on: str = "", why: str = "Operation not permitted") -> None:
        self.fail_on = fail_on
        self.why = why
        self.commands: list[tuple[str, ...]] = []

    def __call__(self, *argv: str) -> None:
        self.commands.append(argv)
        if self.fail_on and self.fail_on in " ".join(argv):
            raise NetnsError(f"`{' '.join(argv)}` failed: {self.why}")


def _setup(fake: FakeIp) -> PodNetworkSetup:
    return PodNetworkSetup(NETWORK, run=fake, in_use=lambda _subnet: "")


def test_interface_names_fit_the_kernels_limit_and_pods_share_the_subnet() -> None:
    pods = NETWORK.pods(NAMES)
    subnet = ipaddress.ip_network(NETWORK.subnet)
    assert all(len(n) <= 15 for p in pods for n in (p.host_veth, p.pod_veth))
    assert len(NETWORK.bridge) <= 15
    assert all(ipaddress.ip_address(p.ip) in subnet for p in pods)
    assert len({p.ip for p in pods} | {NETWORK.gateway}) == len(pods) + 1


def test_the_proxys_own_traffic_is_exempt_before_outbound_is_redirected() -> None:
    rules = [" ".join(r) for r in redirect_rules(Redirect(2102, 4140, 4143, (4191,)))]
    skip = rules.index("-t nat -A OUTPUT -p tcp -m owner --uid-owner 2102 -j RETURN")
    redirect = rules.index("-t nat -A OUTPUT -p tcp -j REDIRECT --to-ports 4140")
    assert skip < redirect


def test_the_admin_port_is_exempt_before_inbound_is_redirected() -> None:
    rules = [" ".join(r) for r in redirect_rules(Redirect(2102, 4140, 4143, (4191,)))]
    skip = rules.index("-t nat -A PREROUTING -p tcp --dport 4191 -j RETURN")
    redirect = rules.index("-t nat -A PREROUTING -p tcp -j REDIRECT --to-ports 4143")
    assert skip < redirect


def test_a_pod_without_an_inbound_listener_gets_no_inbound_rules() -> None:
    rules = redirect_rules(Redirect(2102, 4140, None, (4191,)))
    assert not [r for r in rules if "PREROUTING" in r]


def test_commands_in_a_pod_run_as_the_given_uid() -> None:
    assert in_netns("ns1", 2102) == [
        *("ip", "netns", "exec", "ns1"),
        *("setpriv", "--reuid=2102", "--regid=2102", "--clear-groups", "--"),
    ]


def test_a_failure_midway_undoes_what_was_created_last_first() -> None:
    fake = FakeIp(fail_on=f"netns add mpdemo-{NETWORK.tag}-voting")
    setup = _setup(fake)
    with pytest.raises(NetnsError):
        setup.create(NETWORK.pods(NAMES), {})
    fake.commands.clear()
    assert setup.destroy() == []
    emoji = NETWORK.pods(NAMES)[0]
    assert fake.commands == [
        ("ip", "link", "del", emoji.host_veth),
        ("ip", "netns", "del", emoji.netns),
        ("ip", "link", "del", NETWORK.bridge),
    ]


def test_a_subnet_already_in_use_is_refused_before_any_change() -> None:
    fake = FakeIp()
    setup = PodNetworkSetup(NETWORK, run=fake, in_use=lambda _subnet: "mpdffffbr")
    with pytest.raises(NetnsError, match="in use here \\(mpdffffbr\\)"):
        setup.create(NETWORK.pods(NAMES), {})
    assert fake.commands == []


def test_destroy_goes_on_past_a_failed_undo_and_reports_it() -> None:
    fake = FakeIp()
    setup = _setup(fake)
    setup.create(NETWORK.pods(NAMES[:1]), {})
    fake.fail_on = "netns del"
    errors = setup.destroy()
    assert len(errors) == 1
    assert fake.commands[-1] == ("ip", "link", "del", NETWORK.bridge)


def test_undoing_what_is_already_gone_is_not_an_error() -> None:
    fake = FakeIp(why="Cannot find device")
    setup = _setup(fake)
    setup.create(NETWORK.pods(NAMES[:1]), {})
    fake.fail_on = "link del"
    assert setup.destroy() == []


def test_not_root_is_one_line_naming_root() -> None:
    with pytest.raises(NetnsUnavailable, match="needs root"):
        require_netns(euid=1000)


def test_a_missing_tool_is_named() -> None:
    with pytest.raises(NetnsUnavailable, match="setpriv"):
        require_netns(euid=0, which=lambda tool: None if tool == "setpriv" else f"/bin/{tool}")
