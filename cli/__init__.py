"""Command-line tools: meshctl, meshstat, meshtap."""
