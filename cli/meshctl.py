"""`meshctl`: the entry point that groups meshpipe's operator commands."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import NoReturn

import click

from meshpipe.cli.check import check
from meshpipe.cli.dev import dev
from meshpipe.cli.exit import run_cli
from meshpipe.cli.inject import inject
from meshpipe.cli.install import install
from meshpipe.cli.top import top_command
from meshpipe.schemas.exits import UsageError

# Commands that live above the cli layer (`dashboard`) or in other distributions (meshpipe-demo
# adds `demo`), loaded when invoked.
PLUGIN_GROUP = "meshpipe.meshctl"
# Plugins meshctl knows of, with the extra that installs each: named even when absent.
KNOWN_PLUGINS = {"dashboard": "meshpipe[dashboard]", "demo": "meshpipe[demo]"}


class _Commands(click.Group):
    """meshctl's own commands plus those of the `meshpipe.meshctl` entry-point group."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *KNOWN_PLUGINS, *_plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        own = super().get_command(ctx, cmd_name)
        if own is not None:
            return own
        entry = _plugins().get(cmd_name)
        if entry is not None:
            try:
                command = entry.load()
            except ModuleNotFoundError as exc:
                # A plugin of this distribution whose extra is not installed (aiohttp for
                # `dashboard`): named with its extra, as an absent plugin is.
                ours = (exc.name or "meshpipe").partition(".")[0] == "meshpipe"
                if ours or cmd_name not in KNOWN_PLUGINS:
                    raise
                return _missing(cmd_name, KNOWN_PLUGINS[cmd_name])
            return command if isinstance(command, click.Command) else None
        if cmd_name in KNOWN_PLUGINS:
            return _missing(cmd_name, KNOWN_PLUGINS[cmd_name])
        return None


def _plugins() -> dict[str, EntryPoint]:
    return {entry.name: entry for entry in entry_points(group=PLUGIN_GROUP)}


def _missing(name: str, extra: str) -> click.Command:
    def absent(**_: object) -> None:
        raise UsageError(f"`meshctl {name}` is not installed: pip install '{extra}'")

    return click.Command(
        name,
        callback=absent,
        help=f"(not installed: pip install '{extra}')",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="meshpipe")
def meshctl() -> None:
    """Operate meshpipe: the local dev stack, the demo, Kubernetes install, inject and check;
    the web dashboard and top."""


meshctl.add_command(dev)
meshctl.add_command(check)
meshctl.add_command(inject)
meshctl.add_command(install)
meshctl.add_command(top_command)


def main() -> NoReturn:
    run_cli("meshctl", meshctl)
