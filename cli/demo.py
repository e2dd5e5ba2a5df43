"""`meshctl demo`: the main job. Until the demo app lands (issue 6) it brings the dev stack up."""

from __future__ import annotations

import click

from deploy.devstack import DevStack, DevStackSettings


@click.command("demo")
def demo() -> None:
    """Run the emoji-voting demo behind meshproxy sidecars (for now: the dev stack only)."""
    stack = DevStack(DevStackSettings.from_env())
    stack.up(click.echo)
    click.echo(
        "The dev stack is up. The emoji-voting demo (web, emoji, voting, vote-bot behind "
        "meshproxy sidecars) arrives with its issue; stop the stack with `meshctl dev down`."
    )
