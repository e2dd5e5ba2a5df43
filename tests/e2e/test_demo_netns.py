"""End to end: `meshctl demo --check --netns` runs the story in namespace pods and cleans up."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meshpipe.demo.netns import DEFAULT_SUBNET
from meshpipe.deploy.dev.stack import DevStack
from meshpipe.sinks.client import NativeClient, parse_url

BIN = Path(sys.executable).parent
SUBNET_PREFIX = DEFAULT_SUBNET.rsplit(".", 1)[0] + "."


def _unavailable() -> str:
    """Why this test cannot run here ('' when it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, iptables)"
    missing = [t for t in ("ip", "iptables", "setpriv") if shutil.which(t) is None]
    if missing:
        return f"needs {', '.join(missing)}"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, check=False, timeout=30)
    return "" if probe.returncode == 0 else "`ip netns` is unavailable here"


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.root,
    pytest.mark.skipif(bool(_unavailable()), reason=_unavailable() or "available"),
]


def _lines(*argv: str) -> list[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30)
    return done.stdout.splitlines()


def _host_network() -> list[str]:
    """The demo's namespaces and links, and the host's iptables rules: all a run may add.

    Only the demo's own names count, so other tests' namespaces cannot make this flaky.
    """
    ours = re.compile(r"^(mpdemo-|mpd[0-9a-f]{4}(br|h\d|p\d))")
    names = _lines("ip", "netns", "list") + _lines("ip", "-brief", "link")
    rules = _lines("iptables", "-t", "nat", "-S") + _lines("iptables", "-S")
    return [line for line in names if ours.match(line)] + rules


def _relays_running() -> list[str]:
    """Kafka relays (only the --netns demo starts them) still alive."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"meshpipe.demo.forward" in argv:
            found.append(cmdline.parent.name)
    return found


def _pod_edges_since(stack: DevStack, since: datetime.datetime) -> set[tuple[str, str]]:
    """(source, destination) of outbound events addressed to a pod IP since a time."""
    stamp = since.strftime("%Y-%m-%d %H:%M:%S")
    with NativeClient(parse_url(stack.settings.clickhouse_url)) as client:
        rows = client.execute(
            "SELECT DISTINCT source_name, destination_name FROM requests"
            f" WHERE start_time >= toDateTime('{stamp}', 'UTC') AND direction = 'out'"
            f" AND destination_ip LIKE '{SUBNET_PREFIX}%'"
        )
    return {(str(r[0]), str(r[1])) for r in rows}


def test_demo_check_netns_passes_every_step_and_leaves_nothing_behind(
    tmp_path: Path, dev_stack: DevStack
) -> None:
    # With the session's stack already up, the demo leaves it running for the query below.
    before = _host_network()
    started = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    done = subprocess.run(
        [str(BIN / "meshctl"), "demo", "--check", "--netns", "--run-dir", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
        env={**os.environ, "MESHPIPE_DEBUG": "1"},
    )
    steps = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert len(steps) == 5
    assert all(line.startswith("PASS") for line in steps)
    # The story's traffic went pod to pod, transparently, not through a host-side demo.
    assert {("vote-bot", "web"), ("web", "emoji"), ("web", "voting"), ("voting", "emoji")} <= (
        _pod_edges_since(dev_stack, started)
    )
    assert _host_network() == before
    assert _relays_running() == []
