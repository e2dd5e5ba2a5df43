"""Runs a single-node Apache Kafka (KRaft) on loopback from Maven Central's jars."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from meshpipe.deploy.dev.jvm import java_major, require_maven, run_maven
from meshpipe.deploy.dev.procs import Daemon, DevStackError, port_open, wait_until

DEFAULT_VERSION = "4.1.1"
MIN_JAVA = 17


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "meshpipe"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "meshpipe" / "dev"


@dataclass(frozen=True)
class KafkaSettings:
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    version: str = DEFAULT_VERSION
    heap_mb: int = 512
    cache_dir: Path = field(default_factory=default_cache_dir)  # jars, by version
    data_dir: Path = field(default_factory=lambda: default_data_dir() / "kafka")  # logs, pid
    start_timeout_s: float = 90.0

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def libs_dir(self) -> Path:
        return self.cache_dir / "kafka" / self.version / "libs"


@dataclass(frozen=True)
class KafkaStatus:
    running: bool
    pid: int | None
    ready: bool
    endpoint: str
    log_file: Path


class KafkaRunner:
    """Fetches, formats, starts, inspects and stops the local broker."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        data = settings.data_dir
        self.daemon = Daemon("kafka", data / "kafka.pid", data / "logs" / "broker.log")

    def status(self) -> KafkaStatus:
        pid = self.daemon.pid()
        ready = pid is not None and port_open(self.settings.host, self.settings.port)
        return KafkaStatus(
            pid is not None, pid, ready, self.settings.bootstrap, self.daemon.log_file
        )

    def start(self) -> bool:
        """Start the broker unless ours already runs; True when this call started it."""
        s = self.settings
        if self.daemon.pid() is not None:
            self._wait_ready()
            return False
        for port in (s.port, s.controller_port):
            if port_open(s.host, port):
                raise DevStackError(
                    f"port {s.host}:{port} is taken by another process; stop it or choose "
                    "other ports (MESHPIPE_KAFKA_PORT, MESHPIPE_KAFKA_CONTROLLER_PORT)"
                )
        java = require_java()
        self.fetch()
        config = self._write_config()
        self._format_once(java, config)
        self.daemon.start(
            [
                java,
                f"-Xmx{s.heap_mb}m",
                f"-Xms{min(s.heap_mb, 256)}m",
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={s.data_dir / 'log4j2.properties'}",
                "-cp",
                f"{s.libs_dir}/*",
                "kafka.Kafka",
                str(config),
            ]
        )
        self._wait_ready()
        return True

    def stop(self) -> bool:
        return self.daemon.stop(timeout_s=30.0)

    def fetch(self) -> Path:
        """Copy the broker's jars from Maven Central into the cache (once per version)."""
        libs = self.settings.libs_dir
        stamp = libs / ".complete"
        if stamp.exists():
            return libs
        mvn = require_maven()
        pom = Path(str(resources.files("meshpipe.deploy.kafka").joinpath("pom.xml")))
        sys.stderr.write(
            f"fetching Apache Kafka {self.settings.version} jars from Maven Central into {libs} "
            "(first run only)\n"
        )
        libs.mkdir(parents=True, exist_ok=True)
        argv = [
            mvn, "-B", "-f", str(pom), "dependency:copy-dependencies",
            f"-Dkafka.version={self.settings.version}", f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ]  # fmt: skip
        run_maven(argv, "Kafka jars")
        stamp.write_text(self.settings.version + "\n")
        return libs

    def _write_config(self) -> Path:
        s = self.settings
        logs = s.data_dir / "data"
        text = resources.files("meshpipe.deploy.kafka").joinpath("server.properties").read_text()
        text = text.format(
            host=s.host, port=s.port, controller_port=s.controller_port, log_dirs=logs
        )
        s.data_dir.mkdir(parents=True, exist_ok=True)
        config = s.data_dir / "server.properties"
        config.write_text(text)
        log4j = resources.files("meshpipe.deploy.kafka").joinpath("log4j2.properties").read_text()
        (s.data_dir / "log4j2.properties").write_text(log4j)
        return config

    def _format_once(self, java: str, config: Path) -> None:
        if (self.settings.data_dir / "data" / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # One id in 64 starts with "-"; only the `--cluster-id=` form keeps it a value.
        argv = [
            java, "-cp", f"{self.settings.libs_dir}/*",
            f"-Dlog4j2.configurationFile={self.settings.data_dir / 'log4j2.properties'}",
            "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config),
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise DevStackError(f"formatting Kafka storage failed: {last[0]}")

    def _wait_ready(self) -> None:
        s = self.settings
        wait_until(
            lambda: port_open(s.host, s.port),
            timeout_s=s.start_timeout_s,
            alive=lambda: self.daemon.pid() is not None,
            what=f"Kafka on {s.bootstrap}",
            log_file=self.daemon.log_file,
        )


def require_java() -> str:
    """The java binary, version 17 or newer, or a one-line error."""
    java = shutil.which("java")
    if java is None:
        raise DevStackError(f"java not found; Kafka needs Java {MIN_JAVA}+ (run `make setup`)")
    major = java_major(java)
    if major is None or major < MIN_JAVA:
        raise DevStackError(f"Kafka needs Java {MIN_JAVA}+, found {major or 'unknown'} at {java}")
    return java
