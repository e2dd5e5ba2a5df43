"""`meshctl`: the entry point that groups meshpipe's operator commands."""

from __future__ import annotations

from typing import NoReturn

import click

from cli.check import check
from cli.demo import demo
from cli.dev import dev
from cli.exit import run_cli
from cli.inject import inject
from cli.install import install


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="meshpipe")
def meshctl() -> None:
    """Operate meshpipe: the local dev stack, the demo, Kubernetes install, inject and check."""


meshctl.add_command(dev)
meshctl.add_command(check)
meshctl.add_command(demo)
meshctl.add_command(inject)
meshctl.add_command(install)


def main() -> NoReturn:
    run_cli("meshctl", meshctl)
