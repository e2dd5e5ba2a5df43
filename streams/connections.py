"""Connection reports folded into replay-safe rows: per proxy, edge and report window, the gauge.

A proxy reports each edge's open connections every CONNECTION_REPORT_S (see the contract). The
reports of one proxy edge are keyed by that edge, so they share a partition, and within a chunk
(`streams.chunks`) one `Gauge` per (report window, proxy, edge) keeps the latest report's open
count and sums the opened/closed counts of all. Rows are keyed by the chunk's first offset and
versioned by the latest record, like the edge windows, so a replay rewrites them. Report windows
are a fixed grid of the report time (CONNECTION_REPORT_S), not the workers' edge windows: readers
look back a fixed time for each proxy edge's latest report, whatever the workers' window.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshpipe.schemas.edgekey import Edge
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import WorkloadId
from meshpipe.schemas.rows import CONNECTION_REPORT_S, ConnectionRow
from meshpipe.streams.chunks import ChunkTable, Entry
from meshpipe.streams.windows import direction_text, peer_parts, start_ns


@dataclass(slots=True)
class Gauge:
    """The reports of one proxy edge in one report window of one chunk."""

    report_us: int = -1  # Unix µs of the latest report folded in
    open: int = 0  # its open count
    opened: int = 0  # summed over the reports
    closed: int = 0
    source_pod: str = ""
    destination_pod: str = ""

    def add(self, event: meshpipe_pb2.RequestEvent) -> None:
        """Fold one report in; of two with the same time the later record wins."""
        counts = event.connections
        self.opened += counts.opened
        self.closed += counts.closed
        report_us = start_ns(event) // 1000
        if report_us >= self.report_us:
            self.report_us, self.open = report_us, counts.open
            self.source_pod, self.destination_pod = event.source.pod, event.destination.pod


GaugeKey = tuple[int, str, Edge]  # (report window start, proxy_id, edge)


def report_window_s(report_us: int) -> int:
    """Unix seconds at which the report window holding a report time starts."""
    seconds = report_us // 1_000_000
    return seconds - seconds % CONNECTION_REPORT_S


class ConnectionGauges:
    """The connection reports in one partition's current chunk."""

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.table: ChunkTable[GaugeKey, Gauge] = ChunkTable(Gauge)

    def add(self, offset: int, event: meshpipe_pb2.RequestEvent, edge: Edge) -> None:
        """Fold the valid report at offset (its edge already computed)."""
        window = report_window_s(start_ns(event) // 1000)
        self.table.accumulator((window, event.proxy_id, edge), offset).add(event)

    def snapshot(self, chunk_first: int) -> list[ConnectionRow]:
        """Rows for every proxy edge window changed since the last snapshot."""
        return [self._row(key, entry, chunk_first) for key, entry in self.table.snapshot()]

    def _row(self, key: GaugeKey, entry: Entry[Gauge], chunk_first: int) -> ConnectionRow:
        window, proxy_id, edge = key
        gauge = entry.acc
        src_ns, src_kind, src_name = peer_parts(edge.source)
        dst_ns, dst_kind, dst_name = peer_parts(edge.destination)
        return ConnectionRow(
            window_start_s=window,
            report_us=gauge.report_us,
            proxy_id=proxy_id,
            direction=direction_text(edge.direction),
            source=str(edge.source),
            source_namespace=src_ns,
            source_kind=src_kind,
            source_name=src_name,
            source_pod=gauge.source_pod,
            source_meshed=isinstance(edge.source, WorkloadId),
            destination=str(edge.destination),
            destination_namespace=dst_ns,
            destination_kind=dst_kind,
            destination_name=dst_name,
            destination_pod=gauge.destination_pod,
            destination_meshed=isinstance(edge.destination, WorkloadId),
            partition=self.partition,
            first_offset=chunk_first,
            version=entry.last,
            open_connections=gauge.open,
            opened=gauge.opened,
            closed=gauge.closed,
        )
