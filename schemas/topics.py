"""The Kafka topic names of the contract, and the prefix that isolates a set of them.

Partition counts and topic configs are deployment choices: they live in the one topic spec,
deploy/kafka/topics.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass

REQUESTS = "meshpipe.requests.v1"  # RequestEvent per request per proxy side; key = edge
TAP_SESSIONS = "meshpipe.tap-sessions.v1"  # compacted; key = session id
TAP = "meshpipe.tap.v1"  # tap matches; key = session id
DEADLETTER = "meshpipe.deadletter.v1"  # records a worker could not use, with the reason
BASE_NAMES = (REQUESTS, TAP_SESSIONS, TAP, DEADLETTER)


@dataclass(frozen=True, slots=True)
class Topics:
    """The contract's topic names under an optional prefix (tests isolate themselves with one)."""

    prefix: str = ""

    def name(self, base: str) -> str:
        """The real name of one of the base names above."""
        if base not in BASE_NAMES:
            raise KeyError(base)
        return f"{self.prefix}{base}"

    @property
    def requests(self) -> str:
        return self.name(REQUESTS)

    @property
    def tap_sessions(self) -> str:
        return self.name(TAP_SESSIONS)

    @property
    def tap(self) -> str:
        return self.name(TAP)

    @property
    def deadletter(self) -> str:
        return self.name(DEADLETTER)
