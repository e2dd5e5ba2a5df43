"""The ClickHouse names every meshpipe deployment agrees on: the database, the read-only user that
meshstat, meshtap, Grafana and meshctl check connect as, and the writer the workers use.

The local dev stack (deploy/dev/clickhouse.py) and `meshctl install` (deploy/mesh/clickhouse.py,
deploy/mesh/clickhouse/users.xml) create these users; the CLIs default to them.
"""

from __future__ import annotations

DATABASE = "meshpipe"
READER_USER = "meshpipe_ro"  # readonly=1 profile: no writes, no setting changes
WRITER_USER = "meshstreams"  # in a cluster; the dev stack's workers write as `default`
LOCAL_READER_URL = f"clickhouse://{READER_USER}@127.0.0.1:9000/{DATABASE}"
