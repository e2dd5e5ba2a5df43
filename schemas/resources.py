"""kubectl-style resource arguments as Linkerd's `stat` and `tap` accept them (`deploy/web`,
`deploy web emoji`, `deploy`, `all`), canonical kind names, and `ResourceRef` conversion."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import IdentityError, check_name
from meshpipe.schemas.kinds import ALIASES, ALL, CANONICAL_KINDS, canonical

_SUGGESTIONS = ", ".join([*(aliases[0] for _, aliases in ALIASES), ALL])


class ResourceError(ValueError):
    """Resource arguments that cannot be understood; the message is one line for the user."""


class UnknownResourceTypeError(ResourceError):
    """A resource type that is neither a known kind, alias, plural nor `all`."""

    def __init__(self, given: str) -> None:
        super().__init__(f'unknown resource type "{given}"; try one of: {_SUGGESTIONS}')
        self.given = given


def canonical_kind(resource_type: str) -> str:
    """Map a kubectl type, alias or plural (any case) to its canonical kind; `all` stays `all`."""
    if resource_type.lower() == ALL:
        return ALL
    kind = canonical(resource_type)
    if kind is None:
        raise UnknownResourceTypeError(resource_type)
    return kind


@dataclass(frozen=True, slots=True)
class ResourceSelection:
    """Resources of one canonical kind (or `all`); no names means every resource of the kind."""

    kind: str
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind != ALL and self.kind not in CANONICAL_KINDS:
            raise UnknownResourceTypeError(self.kind)
        if self.kind == ALL and self.names:
            raise ResourceError(f'"{ALL}" selects every resource type and takes no names')
        for name in self.names:
            _check_resource_name(name)

    def __str__(self) -> str:
        if not self.names:
            return self.kind
        return " ".join(f"{self.kind}/{name}" for name in self.names)


def _check_resource_name(name: str) -> None:
    try:
        check_name(name, "resource name")
    except IdentityError as exc:
        raise ResourceError(str(exc)) from exc


def _split_slash(arg: str) -> tuple[str, str]:
    resource_type, _, name = arg.partition("/")
    if not resource_type or not name or "/" in name:
        raise ResourceError(f'invalid resource "{arg}": want TYPE/NAME, e.g. deploy/web')
    if canonical_kind(resource_type) == ALL:
        raise ResourceError(f'invalid resource "{arg}": "{ALL}" takes no name')
    return resource_type, name


def _grouped(pairs: Iterable[tuple[str, str]]) -> list[ResourceSelection]:
    """Group (kind, name) pairs by kind in first-seen order, dropping repeated names."""
    names_by_kind: dict[str, list[str]] = {}
    for kind, name in pairs:
        names = names_by_kind.setdefault(kind, [])
        if name not in names:
            names.append(name)
    return [ResourceSelection(kind, tuple(names)) for kind, names in names_by_kind.items()]


def parse_resources(args: Sequence[str]) -> list[ResourceSelection]:
    """Parse `TYPE [NAME...]` or `TYPE/NAME [TYPE/NAME...]`; the two forms cannot be mixed."""
    if not args:
        raise ResourceError("no resource given; e.g. deploy, deploy/web or all")
    with_slash = [arg for arg in args if "/" in arg]
    if with_slash:
        bare = [arg for arg in args if "/" not in arg]
        if bare:
            raise ResourceError(
                f'cannot mix "{bare[0]}" with "{with_slash[0]}": '
                "give either TYPE [NAME...] or TYPE/NAME [TYPE/NAME...]"
            )
        pairs = [_split_slash(arg) for arg in args]
        return _grouped((canonical_kind(t), name) for t, name in pairs)
    kind = canonical_kind(args[0])
    names = args[1:]
    if kind == ALL and names:
        raise ResourceError(f'"{ALL}" selects every resource type and takes no names')
    if not names:
        return [ResourceSelection(kind)]
    return _grouped((kind, name) for name in names)


def parse_resource(arg: str) -> ResourceSelection:
    """Parse one `TYPE/NAME` or `TYPE` (as `--from` and `--to` take it)."""
    if not arg:
        raise ResourceError("empty resource; e.g. deploy or deploy/web")
    if "/" in arg:
        resource_type, name = _split_slash(arg)
        return ResourceSelection(canonical_kind(resource_type), (name,))
    return ResourceSelection(canonical_kind(arg))


def to_resource_refs(
    selection: ResourceSelection, namespace: str = ""
) -> list[meshpipe_pb2.ResourceRef]:
    """One ResourceRef per name (or one without a name); `all` becomes an empty kind."""
    kind = "" if selection.kind == ALL else selection.kind
    names = selection.names or ("",)
    return [meshpipe_pb2.ResourceRef(namespace=namespace, kind=kind, name=name) for name in names]


def from_resource_ref(ref: meshpipe_pb2.ResourceRef) -> tuple[str, ResourceSelection]:
    """The namespace ("" for all) and selection that a ResourceRef describes."""
    if not ref.kind:
        if ref.name:
            raise ResourceError(f'resource ref names "{ref.name}" without a kind')
        return ref.namespace, ResourceSelection(ALL)
    kind = canonical_kind(ref.kind)
    return ref.namespace, ResourceSelection(kind, (ref.name,) if ref.name else ())
