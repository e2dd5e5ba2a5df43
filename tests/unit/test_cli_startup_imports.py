"""The runtime CLIs start without the dev-stack runners, the demo or anything of the repository."""

from __future__ import annotations

import subprocess
import sys

import pytest

RUNTIME_CLIS = (
    "meshpipe.cli.meshproxy",
    "meshpipe.cli.meshstreams",
    "meshpipe.cli.meshstat",
    "meshpipe.cli.meshtap",
)
NEVER_AT_START = ("meshpipe.deploy.dev", "meshpipe.demo", "bench")


@pytest.mark.parametrize("module", RUNTIME_CLIS)
def test_a_runtime_cli_imports_no_dev_stack_demo_or_bench_module(module: str) -> None:
    probe = (
        f"import sys, {module}; "
        f"print('\\n'.join(m for m in sys.modules if m.startswith({NEVER_AT_START!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []


def test_the_sidecar_command_imports_no_stream_sink_or_kubernetes_library() -> None:
    heavy = ("faust", "clickhouse_driver", "kubernetes", "grpc", "yaml")
    probe = (
        "import sys, meshpipe.cli.meshproxy; "
        f"print('\\n'.join(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []


def test_the_dashboard_command_imports_no_kubernetes_library() -> None:
    """The worker image (no kube extra) runs the in-cluster `meshctl dashboard`."""
    probe = (
        "import sys, meshpipe.cli.entry, meshpipe.dashboard.command, meshpipe.dashboard.server; "
        "print('\\n'.join(m for m in sys.modules if m.split('.')[0] == 'kubernetes'))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []
