"""HTTP/2 frames as bytes (sans-IO): splitting a byte stream into frames at their 9-byte headers,
and building the few frames the relay writes itself (RFC 9113 §4 and §6)."""

from __future__ import annotations

import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADER_SIZE = 9
DEFAULT_MAX_FRAME_SIZE = 16_384  # RFC 9113 §6.5.2: every peer takes frames this large

# Frame types (RFC 9113 §6).
DATA = 0x0
HEADERS = 0x1
PRIORITY = 0x2
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9

# Flags.
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# Error codes (RFC 9113 §7).
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9

# Settings identifiers.
SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_FRAME_SIZE = 0x5


# A frame header: the 24-bit length as a byte and 16 bits, type, flags, R bit + stream id.
_HEADER = struct.Struct(">BHBBL")


class FrameError(Exception):
    """A peer broke the framing rules: the connection ends with this error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Frame:
    """One whole frame: its header fields, payload and the bytes it came as (forwarded as is).

    A frame cut from a read keeps only its bytes: the payload is copied out when asked for, as
    the relay forwards most DATA without looking into it (size says how long it is).
    """

    __slots__ = ("_payload", "flags", "raw", "sid", "size", "type")

    def __init__(self, type_: int, flags: int, sid: int, payload: bytes | None, raw: bytes) -> None:
        self.type = type_
        self.flags = flags
        self.sid = sid
        self._payload = payload  # None: raw[HEADER_SIZE:]
        self.raw = raw
        self.size = len(raw) - HEADER_SIZE if payload is None else len(payload)

    @property
    def payload(self) -> bytes:
        payload = self._payload
        if payload is None:
            payload = self._payload = self.raw[HEADER_SIZE:]
        return payload

    def __repr__(self) -> str:
        return f"Frame(type={self.type}, flags={self.flags:#x}, sid={self.sid}, len={self.size})"


class FrameReader:
    """Cuts one direction's bytes into frames, whatever the read boundaries.

    A client's direction starts with the connection preface, checked here. Frames longer than
    max_size (the largest the receiver takes) are a FRAME_SIZE_ERROR before their payload is held.
    """

    def __init__(self, expect_preface: bool) -> None:
        self._buf = bytearray()
        self._preface = expect_preface
        self.max_size = DEFAULT_MAX_FRAME_SIZE

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> tuple[bytes, list[Frame]]:
        """The preface (once, when it is complete) and every whole frame now available."""
        if self._buf:
            self._buf += data
            buf = bytes(self._buf)
            self._buf.clear()
        else:
            buf = data  # the usual case: no copy until frames are cut
        preface = b""
        if self._preface:
            if len(buf) < len(PREFACE):
                if not PREFACE.startswith(buf):
                    raise FrameError(PROTOCOL_ERROR, "invalid connection preface")
                self._buf += buf
                return b"", []
            if not buf.startswith(PREFACE):
                raise FrameError(PROTOCOL_ERROR, "invalid connection preface")
            self._preface = False
            preface, buf = PREFACE, buf[len(PREFACE) :]
        frames: list[Frame] = []
        start, end = 0, len(buf)
        unpack, max_size = _HEADER.unpack_from, self.max_size
        while end - start >= HEADER_SIZE:
            high, low, type_, flags, sid = unpack(buf, start)
            length = high << 16 | low
            if length > max_size:
                raise FrameError(FRAME_SIZE_ERROR, f"frame of {length} bytes > {max_size}")
            stop = start + HEADER_SIZE + length
            if stop > end:
                break
            raw = buf if start == 0 and stop == end else buf[start:stop]
            frames.append(Frame(type_, flags, sid & 0x7FFF_FFFF, None, raw))
            start = stop
        if start < end:
            self._buf += buf[start:]
        return preface, frames


# Per frame type: (must be on a stream, must be on stream 0, exact payload length or -1).
_SHAPES = {
    DATA: (True, False, -1),
    HEADERS: (True, False, -1),
    PRIORITY: (True, False, -1),
    RST_STREAM: (True, False, 4),
    SETTINGS: (False, True, -1),
    PUSH_PROMISE: (True, False, -1),
    PING: (False, True, 8),
    GOAWAY: (False, True, -1),
    WINDOW_UPDATE: (False, False, 4),
    CONTINUATION: (True, False, -1),
}


def check(f: Frame) -> None:
    """The framing rules of RFC 9113 §6 that make a frame a connection error whatever the
    stream's state: stream id zero or not, fixed payload lengths."""
    shape = _SHAPES.get(f.type)
    if shape is None:
        return  # unknown types are ignored by the receiver (§5.5)
    on_stream, on_zero, length = shape
    if (on_stream and not f.sid) or (on_zero and f.sid):
        raise FrameError(PROTOCOL_ERROR, f"frame type {f.type} on stream {f.sid}")
    size = f.size
    if length >= 0 and size != length:
        raise FrameError(FRAME_SIZE_ERROR, f"frame type {f.type} of {size} bytes")
    if f.type == SETTINGS and (size % 6 or (f.flags & ACK and size)):
        raise FrameError(FRAME_SIZE_ERROR, f"SETTINGS of {size} bytes")
    if f.type == GOAWAY and size < 8:
        raise FrameError(FRAME_SIZE_ERROR, f"GOAWAY of {size} bytes")


def frame(type_: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    """The bytes of one frame."""
    return (
        len(payload).to_bytes(3, "big") + bytes((type_, flags)) + sid.to_bytes(4, "big") + payload
    )


def rst_stream(sid: int, code: int) -> bytes:
    return frame(RST_STREAM, 0, sid, code.to_bytes(4, "big"))


def goaway(last_sid: int, code: int, debug: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, last_sid.to_bytes(4, "big") + code.to_bytes(4, "big") + debug)


def window_update(sid: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, sid, increment.to_bytes(4, "big"))


def settings(pairs: list[tuple[int, int]] | None = None, ack: bool = False) -> bytes:
    payload = b"".join(k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in pairs or [])
    return frame(SETTINGS, ACK if ack else 0, 0, payload)


def header_frames(sid: int, block: bytes, end_stream: bool, priority: bytes = b"") -> bytes:
    """A header block as one HEADERS frame and as many CONTINUATION frames as it needs.

    priority: the 5 priority bytes of the HEADERS frame the block came in, if it had them.
    """
    size = DEFAULT_MAX_FRAME_SIZE - len(priority)
    first, rest = block[:size], block[size:]
    flags = (END_STREAM if end_stream else 0) | (PRIORITY_FLAG if priority else 0)
    if not rest:
        return frame(HEADERS, flags | END_HEADERS, sid, priority + first)
    parts = [frame(HEADERS, flags, sid, priority + first)]
    while rest:
        chunk, rest = rest[:DEFAULT_MAX_FRAME_SIZE], rest[DEFAULT_MAX_FRAME_SIZE:]
        parts.append(frame(CONTINUATION, 0 if rest else END_HEADERS, sid, chunk))
    return b"".join(parts)


def unpadded(f: Frame) -> bytes:
    """The payload of a DATA or HEADERS frame without its padding (and pad length byte)."""
    payload = f.payload
    if not f.flags & PADDED:
        return payload
    if not payload or payload[0] >= len(payload):
        raise FrameError(PROTOCOL_ERROR, "padding longer than the frame")
    return payload[1 : len(payload) - payload[0]]


def headers_fragment(f: Frame) -> tuple[bytes, bytes]:
    """A HEADERS frame's (priority bytes, block fragment)."""
    payload = unpadded(f)
    if f.flags & PRIORITY_FLAG:
        if len(payload) < 5:
            raise FrameError(FRAME_SIZE_ERROR, "HEADERS too short for its priority")
        return payload[:5], payload[5:]
    return b"", payload


def u32(payload: bytes, offset: int = 0) -> int:
    """A 4-byte big-endian number at offset (0 when the payload is too short)."""
    if len(payload) < offset + 4:
        return 0
    return int.from_bytes(payload[offset : offset + 4], "big")


def settings_pairs(payload: bytes) -> list[tuple[int, int]]:
    """A SETTINGS payload as (identifier, value) pairs."""
    return [
        (int.from_bytes(payload[i : i + 2], "big"), int.from_bytes(payload[i + 2 : i + 6], "big"))
        for i in range(0, len(payload) - len(payload) % 6, 6)
    ]
