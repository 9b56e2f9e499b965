"""Cheap completeness checks of PNG and OpenEXR files, before any pixel is decoded.

A render node that dies mid-write or an interrupted copy leaves a truncated frame whose header still reads fine.
Decoding it makes libpng / OpenEXR print their own lines on stderr before the error comes back, and in a long
sequence the job has run for a while by then. These checks read only the end of a PNG (its ``IEND`` chunk) or an
EXR's header and chunk offset table, so :func:`fav_core.io.open_frames` can refuse such a frame with one line
before work starts. A file these checks cannot interpret is passed on (the decoder reports what is wrong).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import BinaryIO

from fav_core.errors import InputError

_PNG_IEND = b"IEND\xaeB`\x82"
_EXR_MAGIC = b"\x76\x2f\x31\x01"
_EXR_TILED, _EXR_NON_IMAGE, _EXR_MULTIPART = 0x200, 0x800, 0x1000
# scanlines per chunk by compression id: NONE RLE ZIPS ZIP PIZ PXR24 B44 B44A DWAA DWAB
_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
_HEADER_READ = 1 << 16  # EXR headers are a few KB (a hundred channels: ~5 KB); a larger one is not checked


def check_complete(path: str | Path) -> None:
    """Raise when a PNG or EXR file is visibly truncated (other types and unparsable files pass).

    Raises:
        InputError: names the file, its size and what is missing; or why it cannot be read (permission, I/O).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix == ".png":
            problem = png_truncation(p)
        elif suffix == ".exr":
            problem = exr_truncation(p)
        else:
            return
    except OSError as exc:  # an unreadable file: one line, as the decoder's own refusal would be
        raise InputError(p, f"cannot read the file ({exc.strerror or exc})") from None
    if problem is not None:
        raise InputError(p, problem)


def png_truncation(path: Path) -> str | None:
    """What is wrong when a PNG file's chunks end before its ``IEND`` chunk (cut short), else None.

    The last 64 bytes are looked at first (the usual file ends with ``IEND``); only when ``IEND`` is not there
    are the chunk headers followed from the start, so that a complete PNG with bytes after ``IEND`` (padding,
    appended data: the decoders read it) is not taken for a truncated one.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            return None  # not a PNG at all: the decoder says so
        f.seek(max(8, size - 64))
        if _PNG_IEND in f.read() or _png_chunks_reach_iend(f, size):
            return None
    return f"truncated PNG: the file ends after {size} bytes without its IEND chunk (an interrupted write or copy?)"


def _png_chunks_reach_iend(f: BinaryIO, size: int) -> bool:
    """Whether following the chunk headers (length, type; data and CRC skipped) from byte 8 reaches an ``IEND``
    chunk that fits in the file."""
    pos = 8
    while pos + 12 <= size:
        f.seek(pos)
        header = f.read(8)
        length = int.from_bytes(header[:4], "big")
        if header[4:8] == b"IEND":
            return pos + 12 + length <= size
        pos += 12 + length
    return False


def exr_truncation(path: Path) -> str | None:
    """What is wrong when an EXR file's chunk offset table points past its end (cut short), else None."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(min(size, _HEADER_READ))
        if head[:4] != _EXR_MAGIC or len(head) < 8:
            return None
        flags = struct.unpack_from("<I", head, 4)[0]
        if flags & _EXR_NON_IMAGE:
            return None  # deep data: refused elsewhere
        try:
            counts, table, parts = _chunk_counts(head, flags)
        except (IndexError, struct.error, ValueError):
            return None
        if counts is None:
            return None
        total = sum(counts)
        if table + 8 * total > size:
            return (f"truncated EXR: the file ends after {size} bytes, inside its table of {total} chunk offsets "
                    "(an interrupted write or copy?)")
        f.seek(table)
        offsets = struct.unpack(f"<{total}Q", f.read(8 * total))
        for k, offset in enumerate(offsets):
            if offset >= size or offset < table:
                return (f"truncated EXR: chunk {k + 1} of {total} would start at byte {offset}, the file has "
                        f"{size} bytes (an interrupted write or copy?)")
        # the chunk that starts last must end inside the file: [part number] coordinates, data size, data
        last = max(offsets)
        f.seek(last)
        leader = f.read(24)
    if flags & _EXR_MULTIPART:
        if len(leader) < 4:
            return _cut(size)
        (part,) = struct.unpack_from("<i", leader)
        if not 0 <= part < len(parts):
            return None
        kind = parts[part].get("type", ("", b""))[1].rstrip(b"\0")
        if kind not in (b"scanlineimage", b"tiledimage"):
            return None
        fields = 1 + (4 if kind == b"tiledimage" else 1)
    else:
        fields = 4 if flags & _EXR_TILED else 1
    if len(leader) < 4 * fields + 4:
        return _cut(size)
    (data_size,) = struct.unpack_from("<i", leader, 4 * fields)
    if last + 4 * fields + 4 + data_size > size:
        return _cut(size)
    return None


def _cut(size: int) -> str:
    return f"truncated EXR: the file ends after {size} bytes, inside its last chunk (an interrupted write or copy?)"


def _chunk_counts(
    head: bytes, flags: int
) -> tuple[list[int] | None, int, list[dict[str, tuple[str, bytes]]]]:
    """(chunks per part, or None when they cannot be told; byte offset of the chunk offset table; the parts'
    header attributes)."""
    pos = 8
    parts: list[dict[str, tuple[str, bytes]]] = []
    while True:
        attrs, pos = _header(head, pos)
        parts.append(attrs)
        if not flags & _EXR_MULTIPART:
            break
        if head[pos] == 0:  # an empty header ends the list of parts
            pos += 1
            break
    counts: list[int] = []
    for attrs in parts:
        n = _part_chunks(attrs, tiled=bool(flags & _EXR_TILED) and not flags & _EXR_MULTIPART)
        if n is None:
            return None, pos, parts
        counts.append(n)
    return counts, pos, parts


def _header(head: bytes, pos: int) -> tuple[dict[str, tuple[str, bytes]], int]:
    """Attributes of one header from ``pos`` (name -> (type, value bytes)) and the position after its end."""
    attrs: dict[str, tuple[str, bytes]] = {}
    while head[pos] != 0:
        end = head.index(b"\0", pos)
        name = head[pos:end].decode("latin-1")
        tend = head.index(b"\0", end + 1)
        kind = head[end + 1 : tend].decode("latin-1")
        (length,) = struct.unpack_from("<i", head, tend + 1)
        if length < 0 or tend + 5 + length > len(head):
            raise ValueError("attribute runs past the header")
        attrs[name] = (kind, head[tend + 5 : tend + 5 + length])
        pos = tend + 5 + length
    return attrs, pos + 1


def _part_chunks(attrs: dict[str, tuple[str, bytes]], *, tiled: bool) -> int | None:
    """The number of chunks of one part: its ``chunkCount``, else from the data window and compression."""
    if "chunkCount" in attrs:
        return int(struct.unpack("<i", attrs["chunkCount"][1][:4])[0])
    if "dataWindow" not in attrs or "compression" not in attrs:
        return None
    x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"][1][:16])
    width, height = x1 - x0 + 1, y1 - y0 + 1
    if width <= 0 or height <= 0:
        return None
    if tiled or attrs.get("type", ("", b""))[1].rstrip(b"\0") == b"tiledimage":
        if "tiles" not in attrs:
            return None
        tx, ty, mode = struct.unpack("<IIB", attrs["tiles"][1][:9])
        if mode & 0x0F != 0 or tx == 0 or ty == 0:  # mip/rip-mapped: levels not counted here
            return None
        return math.ceil(width / tx) * math.ceil(height / ty)
    lines = _LINES_PER_CHUNK.get(attrs["compression"][1][0])
    return None if lines is None else math.ceil(height / lines)
