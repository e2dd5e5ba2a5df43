"""meshctl dashboard: a read-only web UI over the query layer and live tap."""
