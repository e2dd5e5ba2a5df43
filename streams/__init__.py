"""The stream worker (meshstreams): a Faust app that folds RequestEvents into exact per-edge
windows, raw request rows and loss rows, commits offsets only after ClickHouse stored them, serves
tap sessions and dead-letters what it cannot use. The command is meshpipe.cli.meshstreams."""
