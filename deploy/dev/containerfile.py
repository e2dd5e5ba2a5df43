"""The Containerfile subset meshpipe's images use, parsed into the ordered plan of one target.

`make images` and `docker build` read the same deploy/images/Containerfile. This module is the
local side's reader: it knows FROM/ARG/ENV/COPY/RUN/USER/WORKDIR/ENTRYPOINT/CMD, resolves
variables the way Docker does (global ARGs in FROM; stage ARGs and ENV in the other
instructions; RUN left to the shell), and returns the stages a target needs, dependencies
first. Anything else is an error, so the recipe cannot drift into what the local builder skips.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

from meshpipe.schemas.exits import CliError, ExitStatus

# Docker's PATH for RUN when neither the base image nor the recipe sets one.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class ContainerfileError(CliError):
    """The recipe uses something this reader does not know, or names what does not exist."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitStatus.USAGE)


@dataclass(frozen=True)
class Run:
    """A RUN step: argv inside the stage's root, with the environment Docker would give it."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    user: str | None


@dataclass(frozen=True)
class Copy:
    """A COPY step: sources from the build context, or from another stage's root (`--from`)."""

    sources: tuple[str, ...]
    dest: str
    from_stage: str | None


@dataclass(frozen=True)
class ImageConfig:
    """What ends up in the image's config (the runtime side of ENV, USER, WORKDIR, ...)."""

    env: tuple[tuple[str, str], ...] = ()
    user: str | None = None
    workdir: str | None = None
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()


@dataclass(frozen=True)
class StagePlan:
    """One stage: where it starts (another stage, or the base image by name) and its steps."""

    name: str
    parent_stage: str | None
    base_image: str | None
    steps: tuple[Run | Copy, ...]
    config: ImageConfig


@dataclass(frozen=True)
class _Line:
    number: int
    keyword: str
    rest: str


@dataclass
class _Scope:
    """Variables visible while reading one stage."""

    global_args: Mapping[str, str]
    build_args: Mapping[str, str]
    args: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def values(self) -> dict[str, str]:
        return {**self.args, **self.env}


def substitute(text: str, values: Mapping[str, str]) -> str:
    """`$NAME` and `${NAME}` replaced by their values; unknown names become empty, as in Docker."""
    return _VARIABLE.sub(lambda m: values.get(m["braced"] or m["bare"], ""), text)


def _lines(text: str) -> Iterator[_Line]:
    """Instructions with their continuation lines joined; comments and blank lines dropped."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, rest = " ".join(p for p in pending if p).partition(" ")
        pending = []
        yield _Line(start, keyword.upper(), rest.strip())
    if pending:
        raise ContainerfileError("the Containerfile ends inside a continued line")


def _exec_form(line: _Line) -> tuple[str, ...]:
    """ENTRYPOINT/CMD/RUN as a JSON array, or a shell-form string run by /bin/sh -c."""
    if line.rest.startswith("["):
        try:
            value = json.loads(line.rest)
        except json.JSONDecodeError as exc:
            raise ContainerfileError(f"line {line.number}: {line.keyword} is not JSON") from exc
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ContainerfileError(f"line {line.number}: {line.keyword} must list strings")
        return tuple(value)
    return ("/bin/sh", "-c", line.rest)


def _pairs(line: _Line, values: Mapping[str, str]) -> list[tuple[str, str]]:
    """ENV's `K=V K2="V 2"` (or the legacy `K V`), values substituted."""
    words = shlex.split(line.rest)
    if len(words) >= 2 and "=" not in words[0]:
        return [(words[0], substitute(" ".join(words[1:]), values))]
    pairs = []
    for word in words:
        name, sep, value = word.partition("=")
        if not sep:
            raise ContainerfileError(f"line {line.number}: ENV {word!r} has no '='")
        pairs.append((name, substitute(value, values)))
    return pairs


def _declare_arg(line: _Line, scope: _Scope) -> None:
    name, sep, default = line.rest.partition("=")
    if name in scope.build_args:
        scope.args[name] = scope.build_args[name]
    elif sep:
        scope.args[name] = substitute(default, scope.values())
    elif name in scope.global_args:
        scope.args[name] = scope.global_args[name]


class _Parsed:
    """The global ARGs and the stages' raw lines, in file order."""

    def __init__(self, text: str, build_args: Mapping[str, str]) -> None:
        self.global_args: dict[str, str] = {}
        self.stages: dict[str, tuple[_Line, list[_Line]]] = {}
        current: list[_Line] | None = None
        for line in _lines(text):
            if line.keyword == "FROM":
                current = []
                words = line.rest.split()
                if len(words) == 3 and words[1].upper() == "AS":
                    name = words[2]
                elif len(words) == 1:
                    name = f"stage-{len(self.stages)}"
                else:
                    raise ContainerfileError(f"line {line.number}: FROM IMAGE [AS NAME] expected")
                if name in self.stages:
                    raise ContainerfileError(f"line {line.number}: stage {name!r} named twice")
                self.stages[name] = (line, current)
            elif current is None:
                if line.keyword != "ARG":
                    raise ContainerfileError(f"line {line.number}: only ARG may precede FROM")
                scope = _Scope({}, build_args, self.global_args)
                _declare_arg(line, scope)
            else:
                current.append(line)


def plan(text: str, target: str, build_args: Mapping[str, str]) -> list[StagePlan]:
    """The stages `target` needs, each after the stages it starts from or copies from."""
    parsed = _Parsed(text, build_args)
    if target not in parsed.stages:
        known = ", ".join(parsed.stages)
        raise ContainerfileError(f"no stage named {target!r} (stages: {known})")
    done: dict[str, StagePlan] = {}
    _resolve(parsed, target, build_args, done, ())
    return list(done.values())


def global_args(text: str, build_args: Mapping[str, str]) -> dict[str, str]:
    """The values of the ARGs declared before the first FROM (build_args override defaults)."""
    return dict(_Parsed(text, build_args).global_args)


def _resolve(
    parsed: _Parsed,
    name: str,
    build_args: Mapping[str, str],
    done: dict[str, StagePlan],
    visiting: tuple[str, ...],
) -> None:
    if name in done:
        return
    if name in visiting:
        raise ContainerfileError(f"stages depend on each other in a cycle: {' → '.join(visiting)}")
    from_line, lines = parsed.stages[name]
    image = substitute(from_line.rest.split()[0], parsed.global_args)
    parent = image if image in parsed.stages and image != name else None
    for needed in ([parent] if parent else []) + _copy_sources(lines):
        if needed not in parsed.stages:
            raise ContainerfileError(f"COPY --from={needed}: no such stage")
        _resolve(parsed, needed, build_args, done, (*visiting, name))
    inherited = done[parent].config if parent else ImageConfig()
    done[name] = _stage(parsed, name, parent, image, lines, inherited, build_args)


def _copy_sources(lines: list[_Line]) -> list[str]:
    return [
        line.rest.split()[0].removeprefix("--from=")
        for line in lines
        if line.keyword == "COPY" and line.rest.startswith("--from=")
    ]


def _stage(
    parsed: _Parsed,
    name: str,
    parent: str | None,
    image: str,
    lines: list[_Line],
    inherited: ImageConfig,
    build_args: Mapping[str, str],
) -> StagePlan:
    scope = _Scope(parsed.global_args, build_args, env=dict(inherited.env))
    config = inherited
    steps: list[Run | Copy] = []
    for line in lines:
        values = scope.values()
        match line.keyword:
            case "ARG":
                _declare_arg(line, scope)
            case "ENV":
                scope.env.update(_pairs(line, values))
                config = replace(config, env=tuple(scope.env.items()))
            case "RUN":
                env = {"PATH": DEFAULT_PATH, **values}
                steps.append(Run(_exec_form(line), tuple(sorted(env.items())), config.user))
            case "COPY":
                steps.append(_copy(line, values))
            case "USER":
                config = replace(config, user=substitute(line.rest, values))
            case "WORKDIR":
                config = replace(config, workdir=substitute(line.rest, values))
            case "ENTRYPOINT":
                config = replace(config, entrypoint=_exec_form(line), cmd=())
            case "CMD":
                config = replace(config, cmd=_exec_form(line))
            case _:
                raise ContainerfileError(
                    f"line {line.number}: {line.keyword} is not supported by the local builder"
                )
    base_image = None if parent else image
    return StagePlan(name, parent, base_image, tuple(steps), config)


def _copy(line: _Line, values: Mapping[str, str]) -> Copy:
    words = [substitute(w, values) for w in shlex.split(line.rest)]
    from_stage = None
    if words and words[0].startswith("--from="):
        from_stage = words.pop(0).removeprefix("--from=")
    if any(w.startswith("--") for w in words) or len(words) < 2:
        raise ContainerfileError(f"line {line.number}: COPY [--from=STAGE] SRC... DEST expected")
    return Copy(tuple(words[:-1]), words[-1], from_stage)
