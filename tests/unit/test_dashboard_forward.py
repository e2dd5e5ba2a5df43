"""`meshctl dashboard --kubeconfig` against an install that runs the dashboard: no local server,
a port-forward to svc/dashboard whose URL is printed, and the command ends (one line, exit 4)
when kubectl's forward does. kubectl is a small script here; tests/integration/
test_install_cluster.py runs the real one against the in-cluster dashboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshpipe.dashboard.command import dashboard
from meshpipe.schemas.exits import CliError, ExitStatus

_KUBECTL = """#!/bin/sh
dir="$(dirname "$0")"
echo "$@" >> "$dir/calls"
case "$*" in
  *" get configmap "*) cat "$dir/configmap" ;;
  *" port-forward "*) echo 'Forwarding from 127.0.0.1:41234 -> 50750'; sleep 0.3; exit 1 ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"""


def _kubectl(tmp_path: Path, components: str) -> Path:
    (tmp_path / "configmap").write_text(json.dumps({"data": {"components": components}}))
    script = tmp_path / "kubectl"
    script.write_text(_KUBECTL)
    script.chmod(0o755)
    return script


def test_an_installed_dashboard_is_forwarded_to_not_served_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHPIPE_KUBECTL", str(_kubectl(tmp_path, "meshstreams,dashboard")))
    result = CliRunner().invoke(dashboard, ["--kubeconfig", "/k", "--port", "0"])
    assert result.stdout == "meshpipe dashboard available at http://127.0.0.1:41234/\n"
    assert isinstance(result.exception, CliError)
    assert result.exception.status is ExitStatus.UNAVAILABLE
    assert str(result.exception) == "kubectl port-forward to service/dashboard ended (exit 1)"
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[-1] == (
        "--kubeconfig=/k -n meshpipe port-forward --address=127.0.0.1 service/dashboard :50750"
    )
    assert not [c for c in calls if "secret" in c or "clickhouse" in c or "kafka" in c]


def test_without_the_dashboard_installed_it_falls_back_to_forwarding_clickhouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An install made with --no-dashboard: the local server's path, which reads the reader's
    Secret next (this kubectl has none, so the command stops there with kubectl's reason)."""
    monkeypatch.setenv("MESHPIPE_KUBECTL", str(_kubectl(tmp_path, "meshstreams,clickhouse")))
    result = CliRunner().invoke(dashboard, ["--kubeconfig", "/k", "--port", "0"])
    assert isinstance(result.exception, CliError)
    assert result.exception.status is ExitStatus.UNAVAILABLE
    calls = (tmp_path / "calls").read_text().splitlines()
    assert "port-forward" not in " ".join(calls)
    assert any(" get secret clickhouse-credentials" in c for c in calls)
