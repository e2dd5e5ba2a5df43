"""The proxy's settings: listeners, identity and time-outs, and parsing them from flag text."""

from __future__ import annotations

from dataclasses import dataclass, field

from meshpipe.proxy.layer import Address, Limits
from meshpipe.proxy.publisher import KafkaSettings, PublisherSettings
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import WorkloadInstance
from meshpipe.schemas.rows import CONNECTION_REPORT_S


class SettingsError(ValueError):
    """A flag value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Listener:
    name: str  # inbound, outbound
    address: Address
    direction: meshpipe_pb2.Direction.ValueType
    target: Address | None  # the app for inbound; None for explicit or transparent routing
    # Behind iptables REDIRECT: the target comes from SO_ORIGINAL_DST (outbound: that address;
    # inbound: 127.0.0.1 at that port).
    transparent: bool = False

    @property
    def needs_target(self) -> bool:
        """Connections without a known app are refused: inbound never routes by Host header."""
        return self.transparent and self.direction == meshpipe_pb2.INBOUND


@dataclass(frozen=True)
class ServerSettings:
    workload: WorkloadInstance
    proxy_id: str
    listeners: tuple[Listener, ...]
    admin: Address
    limits: Limits = field(default_factory=Limits)
    connect_timeout_s: float = 5.0
    drain_timeout_s: float = 20.0  # SIGTERM: wait this long for in-flight requests
    flush_timeout_s: float = 5.0  # then this long for queued events to reach Kafka
    kafka: KafkaSettings | None = None  # None: events are counted but not sent (tests)
    publisher: PublisherSettings = field(default_factory=PublisherSettings)
    # Seconds between connection reports (TCP_CONN); 0: none. Readers look back three reports
    # of the contract's interval, so longer intervals would make the gauge flicker.
    connection_report_s: float = CONNECTION_REPORT_S
    # After start: collect once, then gc.freeze() what startup made (modules, settings, hpack,
    # prometheus), so the collections traffic triggers scan only traffic's objects. In a
    # sidecar process (meshproxy sets it); off in-process (tests), whose heap is not ours.
    freeze_startup_heap: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.connection_report_s <= CONNECTION_REPORT_S:
            raise SettingsError(
                f"connection report interval must be 0 (off) to {CONNECTION_REPORT_S} s, "
                f"got {self.connection_report_s:g} s"
            )


def parse_address(text: str, what: str) -> Address:
    """host:port or [v6]:port with a numeric port."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise SettingsError(f"invalid {what} {text!r}: want HOST:PORT, e.g. 127.0.0.1:4143")
    return Address(host, int(port))


def parse_inbound(text: str, transparent: bool = False) -> tuple[Address, Address | None]:
    """LISTEN=APP, e.g. 127.0.0.1:4143=127.0.0.1:8080; with transparent also a bare LISTEN,
    whose app is found per connection (APP None)."""
    listen, sep, app = text.partition("=")
    if not sep and not transparent:
        raise SettingsError(
            f"invalid inbound {text!r}: want LISTEN=APP, e.g. 127.0.0.1:4143=127.0.0.1:8080 "
            "(a bare LISTEN needs --transparent)"
        )
    address = parse_address(listen, "inbound listen address")
    return address, parse_address(app, "app address") if sep else None


def listeners(inbound: str | None, outbound: str | None, transparent: bool) -> tuple[Listener, ...]:
    out: list[Listener] = []
    if inbound:
        listen, app = parse_inbound(inbound, transparent)
        out.append(Listener("inbound", listen, meshpipe_pb2.INBOUND, app, app is None))
    if outbound:
        address = parse_address(outbound, "outbound listen address")
        out.append(Listener("outbound", address, meshpipe_pb2.OUTBOUND, None, transparent))
    if not out:
        raise SettingsError("nothing to proxy: give --inbound and/or --outbound")
    return tuple(out)
