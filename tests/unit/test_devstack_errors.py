"""Dev-stack failure modes end in one line that says what to do, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshpipe.cli.meshctl import meshctl
from meshpipe.deploy.dev import jvm
from meshpipe.deploy.dev.crds import load_strimzi_crds
from meshpipe.deploy.dev.kafka import KafkaRunner, KafkaSettings, require_java
from meshpipe.deploy.dev.procs import Daemon, DevStackError, wait_until


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_kafka_start_on_a_taken_port_names_the_port(tmp_path: Path, taken_port: int) -> None:
    runner = KafkaRunner(KafkaSettings(port=taken_port, data_dir=tmp_path, cache_dir=tmp_path))
    with pytest.raises(DevStackError, match=f"port 127.0.0.1:{taken_port} is taken"):
        runner.start()


def test_missing_java_says_to_run_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DevStackError, match=r"java not found.*make setup"):
        require_java()


def test_no_new_enough_java_names_those_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old = tmp_path / "jvm" / "java-11" / "bin" / "java"
    old.parent.mkdir(parents=True)
    old.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\"' >&2\n")
    old.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(jvm, "JVM_DIR", tmp_path / "jvm")
    with pytest.raises(
        DevStackError, match=rf"X needs Java 21\+; found 11 at {old}: set JAVA_HOME"
    ):
        jvm.find_java(21, "X")


def test_missing_crds_say_how_to_fetch_them(tmp_path: Path) -> None:
    with pytest.raises(
        DevStackError, match=r"CRDs are not in .*: run `make setup` or `meshctl dev"
    ):
        load_strimzi_crds(tmp_path)


def test_missing_maven_says_to_run_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    runner = KafkaRunner(KafkaSettings(cache_dir=tmp_path / "cache", data_dir=tmp_path))
    with pytest.raises(DevStackError, match=r"Maven \(mvn\) not found"):
        runner.fetch()


def test_server_that_never_gets_ready_names_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with pytest.raises(DevStackError, match=f"did not become ready within 0s; see its log: {log}"):
        wait_until(lambda: False, timeout_s=0.3, alive=lambda: True, what="X", log_file=log)


def test_server_that_dies_during_start_names_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with pytest.raises(DevStackError, match=f"exited during start-up; see its log: {log}"):
        wait_until(lambda: False, timeout_s=5, alive=lambda: False, what="X", log_file=log)


def test_daemon_stop_ends_the_process_and_forgets_the_pid(tmp_path: Path) -> None:
    daemon = Daemon("sleeper", tmp_path / "s.pid", tmp_path / "s.log")
    daemon.start(["sleep", "30"])
    assert daemon.pid() is not None
    assert daemon.stop(timeout_s=5)
    assert daemon.pid() is None
    assert not daemon.pid_file.exists()


def test_dev_status_with_nothing_running_exits_unavailable(tmp_path: Path) -> None:
    env = {
        "MESHPIPE_DEV_DIR": str(tmp_path),
        "MESHPIPE_KAFKA_PORT": "1",
        "MESHPIPE_CLICKHOUSE_PORT": "2",
    }
    result = CliRunner().invoke(meshctl, ["dev", "status"], env=env, standalone_mode=False)
    assert result.return_value == 4
    assert "× kafka       not running" in result.output
    assert "× clickhouse  not running" in result.output


def test_bad_port_variable_is_one_line_and_exit_unavailable(tmp_path: Path) -> None:
    env = {**os.environ, "MESHPIPE_DEV_DIR": str(tmp_path), "MESHPIPE_KAFKA_PORT": "ninety"}
    done = subprocess.run(
        [sys.executable, "-c", "from cli.meshctl import main; main()", "dev", "status"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 4
    assert done.stderr == "meshctl: MESHPIPE_KAFKA_PORT must be a whole number, got 'ninety'\n"


def test_unknown_subcommand_is_a_usage_error_without_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from cli.meshctl import main; main()", "dve"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "No such command 'dve'" in done.stderr
    assert "Traceback" not in done.stderr
