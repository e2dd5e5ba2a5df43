"""The demo's story as RequestEvents for the dashboard's browser test: vote-bot → web → emoji and
voting, voting → emoji on the legacy HTTP path; healthy in an earlier minute, the legacy call
failing half the time in a later one. Each request is reported by both sides' proxies."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

NS = "emojivoto"
LEGACY_PATH = "/api/find-by-shortcode"
# (source, destination, method, path, share of the calls)
CALLS = (
    ("vote-bot", "web", "POST", "/api/vote?choice=:santa:", 4),
    ("vote-bot", "web", "GET", "/api/list", 2),
    ("web", "emoji", "GET", "/api/list", 2),
    ("web", "voting", "POST", "/api/vote", 4),
    ("voting", "emoji", "GET", f"{LEGACY_PATH}?code=:santa:", 4),
)


def workload(name: str) -> meshpipe_pb2.Workload:
    return meshpipe_pb2.Workload(
        namespace=NS, kind="deployment", name=name, pod=f"{name}-0", meshed=True
    )


@dataclass
class Story:
    """Builds events with gap-free sequence numbers per proxy."""

    seed: int = 5
    seqs: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _side(
        self, direction: int, src: str, dst: str, method: str, path: str, status: int, start_ns: int
    ) -> meshpipe_pb2.RequestEvent:
        side = "out" if direction == meshpipe_pb2.OUTBOUND else "in"
        proxy = f"{src if side == 'out' else dst}-{side}-0"
        self.seqs[proxy] = self.seqs.get(proxy, 0) + 1
        latency = int(self._rng.lognormvariate(7.5, 0.5))
        event = meshpipe_pb2.RequestEvent(
            id=self._rng.getrandbits(128).to_bytes(16, "big"),
            proxy_id=proxy,
            proxy_seq=self.seqs[proxy],
            direction=direction,  # type: ignore[arg-type]
            source=workload(src),
            destination=workload(dst),
            protocol=meshpipe_pb2.HTTP1,
            method=method,
            scheme="http",
            authority=f"{dst}-svc.{NS}:8080",
            path=path,
            http_status=status,
            latency_us=latency,
            duration_us=latency + 50,
            response_bytes=200,
            classification=meshpipe_pb2.FAILURE if status >= 500 else meshpipe_pb2.SUCCESS,
        )
        event.start.FromNanoseconds(start_ns)
        return event

    def request(
        self, src: str, dst: str, method: str, path: str, status: int, start_ns: int
    ) -> list[meshpipe_pb2.RequestEvent]:
        """Both proxies' events of one request."""
        return [
            self._side(d, src, dst, method, path, status, start_ns)
            for d in (meshpipe_pb2.OUTBOUND, meshpipe_pb2.INBOUND)
        ]

    def minute(
        self, start_s: int, broken: bool, calls_per_s: int = 2
    ) -> list[meshpipe_pb2.RequestEvent]:
        """60 s of the story from start_s; when broken, every other legacy call fails (and the
        vote it served with it)."""
        events: list[meshpipe_pb2.RequestEvent] = []
        weights = [c[4] for c in CALLS]
        for n in range(60 * calls_per_s):
            start_ns = int((start_s + n / calls_per_s) * 1e9)
            src, dst, method, path, _ = self._rng.choices(CALLS, weights)[0]
            failing = (
                broken and n % 2 == 0 and (src, dst) in (("voting", "emoji"), ("web", "voting"))
            )
            events += self.request(src, dst, method, path, 500 if failing else 200, start_ns)
        return events
