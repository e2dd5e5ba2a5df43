"""The commands: meshstat, meshtap, meshctl, and the meshproxy and meshstreams entry points, with
one error boundary and exit-code map (exit.py, schemas.exits). Console scripts start in entry.py."""
