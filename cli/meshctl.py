"""`meshctl`: the entry point that groups meshpipe's operator commands."""

from __future__ import annotations

from typing import NoReturn

import click

from cli.demo import demo
from cli.dev import dev
from cli.exit import run_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="meshpipe")
def meshctl() -> None:
    """Operate meshpipe: the local dev stack, the demo, Kubernetes install, inject and check."""


meshctl.add_command(dev)
meshctl.add_command(demo)


def main() -> NoReturn:
    run_cli("meshctl", meshctl)
