"""Runs the local dev ClickHouse server (Debian 18.16 or a modern binary) from a project config."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from meshpipe.deploy.dev.procs import Daemon, DevStackError, port_open, wait_until
from meshpipe.sinks.client import ClickHouseError, ClickHouseUrl, NativeClient
from meshpipe.sinks.query import READ_BUFFER_BYTES
from meshpipe.sinks.users import READER_USER


def default_data_dir() -> Path:
    """~/.local/share/meshpipe/dev/clickhouse: the shared dev stack's ClickHouse files."""
    return Path.home() / ".local" / "share" / "meshpipe" / "dev" / "clickhouse"


@dataclass(frozen=True)
class ClickHouseSettings:
    """Where the dev server listens, keeps its files, and which binary runs it."""

    host: str = "127.0.0.1"
    tcp_port: int = 9000
    http_port: int = 8123
    data_dir: Path = field(default_factory=default_data_dir)
    # None: a modern single `clickhouse` binary from PATH if present, else `clickhouse-server`.
    binary: Path | str | None = None
    max_memory_usage_bytes: int = 2_000_000_000  # per query
    cache_size_bytes: int = 268_435_456  # mark cache and uncompressed cache, each

    def url(self, user: str = "default") -> ClickHouseUrl:
        """The native-protocol URL of this server for user."""
        return ClickHouseUrl(host=self.host, port=self.tcp_port, user=user)


@dataclass(frozen=True)
class ClickHouseStatus:
    """What `status()` found: our process (pid) and whether the endpoint answers queries."""

    running: bool  # our process (pid file) is alive
    ready: bool  # our process answers `SELECT version()`
    pid: int | None
    version: str | None  # whatever answers on the endpoint, ours or not
    endpoint: str
    log_file: Path


def server_argv(settings: ClickHouseSettings, config_file: Path) -> list[str]:
    """The command line that runs the server binary with config_file."""
    binary = None if settings.binary is None else Path(settings.binary)
    if binary is None:
        found = shutil.which("clickhouse") or shutil.which("clickhouse-server")
        if found is None:
            raise DevStackError("no ClickHouse server binary on PATH; run `make setup`")
        binary = Path(found)
    elif not binary.exists():
        raise DevStackError(f"ClickHouse binary {binary} does not exist; run `make setup`")
    head = [str(binary), "server"] if binary.name == "clickhouse" else [str(binary)]
    return [*head, f"--config-file={config_file}"]


def render_config(settings: ClickHouseSettings) -> str:
    """config.xml: loopback only, our two ports and nothing else, every path in data_dir.

    The root element is <yandex>, which 18.16 requires and modern servers still accept.
    Interserver, MySQL and PostgreSQL ports are left out, so those listeners never open.
    Elements one version does not know (e.g. max_server_memory_usage on 18.16) are ignored.
    """
    d = settings.data_dir
    return f"""<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>{_x(d / "log" / "clickhouse-server.log")}</log>
        <errorlog>{_x(d / "log" / "clickhouse-server.err.log")}</errorlog>
        <size>50M</size>
        <count>2</count>
    </logger>
    <listen_host>{_x(settings.host)}</listen_host>
    <tcp_port>{settings.tcp_port}</tcp_port>
    <http_port>{settings.http_port}</http_port>
    <path>{_x(d / "data")}/</path>
    <tmp_path>{_x(d / "tmp")}/</tmp_path>
    <user_files_path>{_x(d / "user_files")}/</user_files_path>
    <format_schema_path>{_x(d / "format_schemas")}/</format_schema_path>
    <users_config>{_x(d / "users.xml")}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <max_connections>256</max_connections>
    <max_concurrent_queries>32</max_concurrent_queries>
    <mark_cache_size>{settings.cache_size_bytes}</mark_cache_size>
    <uncompressed_cache_size>{settings.cache_size_bytes}</uncompressed_cache_size>
    <max_server_memory_usage>{2 * settings.max_memory_usage_bytes}</max_server_memory_usage>
    <mlock_executable>false</mlock_executable>
</yandex>
"""


def render_users(settings: ClickHouseSettings) -> str:
    """users.xml: `default` (no password, loopback, writer) and read-only `meshpipe_ro`."""
    loopback = "<ip>127.0.0.1</ip><ip>::1</ip>"
    return f"""<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>{settings.max_memory_usage_bytes}</max_memory_usage>
            <max_threads>2</max_threads>
            <use_uncompressed_cache>0</use_uncompressed_cache>
        </default>
        <readonly>
            <max_memory_usage>{settings.max_memory_usage_bytes}</max_memory_usage>
            <max_threads>2</max_threads>
            <max_read_buffer_size>{READ_BUFFER_BYTES}</max_read_buffer_size>
            <readonly>1</readonly>
        </readonly>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>{loopback}</networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <{READER_USER}>
            <password></password>
            <networks>{loopback}</networks>
            <profile>readonly</profile>
            <quota>default</quota>
        </{READER_USER}>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"""


def _x(value: object) -> str:
    return escape(str(value))


def query_version(url: ClickHouseUrl, timeout_s: float = 2.0) -> str | None:
    """`SELECT version()` over the native protocol, or None when nothing answers."""
    if not port_open(url.host, url.port, timeout_s):
        return None  # the driver logs a traceback for refused connections; skip it
    try:
        client = NativeClient(url, timeout_s=timeout_s)
    except ClickHouseError:
        return None
    try:
        return str(client.execute("SELECT version()")[0][0])
    except ClickHouseError:
        return None
    finally:
        client.close()


class ClickHouseServer:
    """Starts, stops and reports on the dev server owned through the pid file in data_dir."""

    def __init__(self, settings: ClickHouseSettings) -> None:
        self.settings = settings
        self.config_file = settings.data_dir / "config.xml"
        self.users_file = settings.data_dir / "users.xml"
        self.daemon = Daemon(
            name="clickhouse",
            pid_file=settings.data_dir / "clickhouse.pid",
            log_file=settings.data_dir / "log" / "console.log",
        )

    @property
    def endpoint(self) -> str:
        """host:native_port."""
        return f"{self.settings.host}:{self.settings.tcp_port}"

    @property
    def error_log(self) -> Path:
        """The server's error log, the first place to look when start-up fails."""
        return self.settings.data_dir / "log" / "clickhouse-server.err.log"

    def start(self, timeout_s: float = 60.0) -> bool:
        """Start the server and wait until a real query answers; False if ours already ran."""
        started = self.daemon.pid() is None
        if started:
            self._check_ports_free()
            argv = server_argv(self.settings, self.config_file)
            self.write_config()
            self.daemon.start(argv, cwd=self.settings.data_dir)
        wait_until(
            lambda: query_version(self.settings.url(), timeout_s=1.0) is not None,
            timeout_s=timeout_s,
            alive=lambda: self.daemon.pid() is not None,
            what=f"ClickHouse on {self.endpoint}",
            log_file=self.error_log,
        )
        return started

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop our server; True if one was running."""
        return self.daemon.stop(timeout_s)

    def status(self) -> ClickHouseStatus:
        """Our pid (if running) and the version answering on the endpoint (if any)."""
        pid = self.daemon.pid()
        version = query_version(self.settings.url())
        return ClickHouseStatus(
            running=pid is not None,
            ready=pid is not None and version is not None,
            pid=pid,
            version=version,
            endpoint=self.endpoint,
            log_file=self.error_log,
        )

    def write_config(self) -> None:
        """Create the data directories and write config.xml and users.xml."""
        for sub in ("data", "tmp", "user_files", "format_schemas", "log"):
            (self.settings.data_dir / sub).mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(render_config(self.settings))
        self.users_file.write_text(render_users(self.settings))

    def _check_ports_free(self) -> None:
        for port in (self.settings.tcp_port, self.settings.http_port):
            if port_open(self.settings.host, port):
                raise DevStackError(
                    f"port {self.settings.host}:{port} is in use by a process that is not"
                    f" meshpipe's ClickHouse (no live pid in {self.daemon.pid_file})"
                )
