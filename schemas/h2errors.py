"""HTTP/2 error codes by number and by name (RFC 9113 §7), as RST_STREAM and GOAWAY carry them."""

from __future__ import annotations

H2_ERROR_NAMES = (
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "INTERNAL_ERROR",
    "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT",
    "STREAM_CLOSED",
    "FRAME_SIZE_ERROR",
    "REFUSED_STREAM",
    "CANCEL",
    "COMPRESSION_ERROR",
    "CONNECT_ERROR",
    "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
)


def h2_error_name(code: int) -> str:
    """The name of an HTTP/2 error code, or the number for one RFC 9113 does not define."""
    return H2_ERROR_NAMES[code] if 0 <= code < len(H2_ERROR_NAMES) else str(code)
