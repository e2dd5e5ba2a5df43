"""gRPC status codes by number and by name: Go's `codes.Code` names, as Linkerd's tap prints."""

from __future__ import annotations

GRPC_STATUS_NAMES = (
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
)
# Lower-cased names to codes; the gRPC specification spells code 1 CANCELLED, Go Canceled.
_CODES = {name.lower(): code for code, name in enumerate(GRPC_STATUS_NAMES)} | {"cancelled": 1}


def grpc_status_name(code: int) -> str:
    """The name of a gRPC status code, or the number for a code gRPC does not define."""
    return GRPC_STATUS_NAMES[code] if 0 <= code < len(GRPC_STATUS_NAMES) else str(code)


def grpc_status_code(text: str) -> int | None:
    """The code a name (any case, `Cancelled` or `Canceled`) or a number 0-16 stands for; None
    for anything else."""
    value = text.strip()
    if value.isascii() and value.isdigit():
        code = int(value)
        return code if code < len(GRPC_STATUS_NAMES) else None
    return _CODES.get(value.lower())
