"""The meshpipe contract, imported by every other part and importing none: the protobuf messages
(gen/, from proto/), topic names (topics), row shapes and the window (rows), workload identity and
resource grammar (identity, resources), edge key, classification, latency grid, the tap filter,
durations, the clock, ClickHouse error codes and exit codes."""
