"""The channel names of an OpenEXR file, read from its header(s) with the standard library only.

Blender's Python has no OpenEXR/OpenImageIO module and the core (``fav_core``) is usually not importable there,
yet the host must know, before anything runs, whether a file carries a Vector pass (an image strip of rendered
EXR frames, reused renders). The header is all that is needed: magic number, version flags, then one header per
part (multi-part files, which Blender 5.0 writes by default: one part per pass), each a list of attributes
``name\\0 type\\0 size:int32 value`` ended by an empty name; the ``channels`` attribute (type ``chlist``) is a list
of ``name\\0`` + 16 bytes, ended by an empty name (OpenEXR file layout, "Header" and "Multi-Part" sections).
"""
from __future__ import annotations

import struct
from pathlib import Path

from .errors import HostError

MAGIC = 20000630
_MULTIPART = 0x1000
_LONG_NAMES = 0x400
#: Bytes read first (Blender's headers are a few KiB), and the most read for one header.
_FIRST_READ_BYTES = 64 * 1024
_MAX_HEADER_BYTES = 16 * 1024 * 1024


class _Truncated(Exception):
    """The bytes read end inside the header (read more, or the file is damaged)."""


class _Reader:
    """Sequential little-endian reads from bytes, with one-line errors on truncation."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if n < 0:
            raise HostError(f"{self.path}: EXR header is damaged")
        if self.pos + n > len(self.data):
            raise _Truncated
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int32(self) -> int:
        return int(struct.unpack("<i", self.take(4))[0])

    def cstring(self, limit: int) -> str:
        end = self.data.find(b"\0", self.pos, self.pos + limit + 1)
        if end < 0:
            if self.pos + limit + 1 > len(self.data):
                raise _Truncated
            raise HostError(f"{self.path}: EXR header is damaged (a name longer than {limit} bytes)")
        text = self.data[self.pos:end].decode("utf-8", errors="replace")
        self.pos = end + 1
        return text


def _channel_list(value: bytes, path: Path) -> list[str]:
    reader = _Reader(value, path)
    names: list[str] = []
    while True:
        name = reader.cstring(len(value))
        if not name:
            return names
        reader.take(16)  # pixel type, pLinear, reserved, x/y sampling
        names.append(name)


def exr_channel_names(path: Path) -> list[str]:
    """Every channel name of every part, as stored (``ViewLayer.Vector.X``, or ``R`` in a plain file).

    Args:
        path: an OpenEXR file (single- or multi-part).

    Raises:
        HostError: the file cannot be read, is not OpenEXR, or its header is damaged (one line naming it).
    """
    try:
        return _names(_head(path, _FIRST_READ_BYTES), path)
    except _Truncated:  # a header larger than the first read (long metadata): read up to the limit
        try:
            return _names(_head(path, _MAX_HEADER_BYTES), path)
        except _Truncated:
            raise HostError(f"{path}: EXR header is truncated or damaged") from None


def _head(path: Path, size: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError as exc:
        raise HostError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _names(data: bytes, path: Path) -> list[str]:
    reader = _Reader(data, path)
    if len(data) < 8 or reader.int32() != MAGIC:
        raise HostError(f"{path}: not an OpenEXR file")
    flags = reader.int32()
    limit = 255 if flags & _LONG_NAMES else 31  # attribute name/type length
    names: list[str] = []
    while True:  # one header per part; a multi-part list ends with an empty header
        attributes = 0
        while True:
            name = reader.cstring(limit)
            if not name:
                break
            kind = reader.cstring(limit)
            value = reader.take(reader.int32())
            attributes += 1
            if name == "channels" and kind == "chlist":
                names += _channel_list(value, path)
        if not flags & _MULTIPART or attributes == 0:
            return names


def has_vector_pass(names: list[str]) -> bool:
    """True when the names hold Blender's four Vector pass channels (``<layer>.Vector.X/Y/Z/W``)."""
    prefixes = {n[:-1] for n in names if ".Vector." in f".{n}" and n.endswith(".X")}
    return any(all(p + c in names for c in "YZW") for p in prefixes)
