"""Reliability maps as PGM files: strict reader (P5 8/16-bit, P2 ascii) and atomic P5 writer.

255 (white) = reliable, 0 = unreliable, as written by the reference consistencyChecker (algorithm.md §5.1) and
read by ``image.load(path, 1)`` in the Lua code.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fav_core.errors import FlowFormatError, InputError, check_shape
from fav_core.flow.io import write_atomic

_WHITESPACE = b" \t\r\n\x0b\x0c"
_MAX_SIDE = 2**15


def _header(raw: bytes, path: Path) -> tuple[bytes, int, int, int, int]:
    """Parse 'P5|P2 W H maxval' (comments allowed); return magic, W, H, maxval and the data offset."""
    magic = raw[:2]
    if magic not in (b"P5", b"P2"):
        raise FlowFormatError(path, f"not a greyscale PGM (magic {magic!r}, expected b'P5' or b'P2')")
    pos = 2
    values: list[int] = []
    while len(values) < 3:
        while pos < len(raw) and (raw[pos] in _WHITESPACE or raw[pos] == ord("#")):
            if raw[pos] == ord("#"):
                while pos < len(raw) and raw[pos] not in b"\r\n":
                    pos += 1
            else:
                pos += 1
        start = pos
        while pos < len(raw) and raw[pos] not in _WHITESPACE and raw[pos] != ord("#"):
            pos += 1
        token = raw[start:pos]
        if not token:
            raise FlowFormatError(path, "truncated PGM header")
        if not token.isdigit():
            raise FlowFormatError(path, f"bad PGM header field {token[:16]!r}")
        values.append(int(token))
    if pos >= len(raw) or raw[pos] not in _WHITESPACE:
        raise FlowFormatError(path, "truncated PGM header (no whitespace after maxval)")
    width, height, maxval = values
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise FlowFormatError(path, f"bad PGM size {width}x{height}")
    if not 0 < maxval <= 65535:
        raise FlowFormatError(path, f"unsupported PGM depth (maxval {maxval})")
    return magic, width, height, maxval, pos + 1


_HEADER_LIMIT = 64 * 1024


def _open_pgm(path: str | Path) -> tuple[Path, bytes, int]:
    """The first bytes of a PGM (enough for any sane header) and the file length; typed errors."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(_HEADER_LIMIT)
    except FileNotFoundError as exc:
        raise InputError(p, "reliability map not found") from exc
    except OSError as exc:
        raise InputError(p, f"cannot read reliability map ({exc.strerror or exc})") from exc
    return p, head, size


def _data_bytes(magic: bytes, width: int, height: int, maxval: int) -> int | None:
    """Bytes of P5 pixel data (None for ascii P2, whose length varies)."""
    if magic != b"P5":
        return None
    return width * height * (1 if maxval < 256 else 2)


def read_pgm_header(path: str | Path) -> tuple[int, int]:
    """Size of a PGM from its header, checked against the file length for binary P5 (no pixel data read).

    Returns:
        (H, W).

    Raises:
        InputError: the file is missing or unreadable.
        FlowFormatError: not a PGM, malformed/over-long header, bad depth, or truncated P5 data.
    """
    p, head, size = _open_pgm(path)
    try:
        magic, width, height, maxval, offset = _header(head, p)
    except FlowFormatError:
        if size > len(head):
            raise FlowFormatError(p, f"PGM header is not complete within {_HEADER_LIMIT} bytes") from None
        raise
    need = _data_bytes(magic, width, height, maxval)
    if need is not None and size - offset < need:
        raise FlowFormatError(p, f"truncated PGM data ({size - offset} of {need} bytes)")
    return height, width


def read_pgm(path: str | Path, expect_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a greyscale PGM reliability map.

    Args:
        path: the file (P5 with maxval <= 255 or <= 65535 big-endian, or P2 ascii).
        expect_size: ``(H, W)`` the map must have (the frame size), or None.

    Returns:
        :math:`(H, W)` float32 in [0, 1] (value / maxval), 1 = reliable.

    Raises:
        InputError: the file is missing or unreadable.
        FlowFormatError: not a PGM, truncated, bad depth, values above maxval, or wrong size
            ("reliability map is 64x48, frame is 32x24").
    """
    p = Path(path)
    height, width = read_pgm_header(p)  # header and length are checked before the data is read
    if expect_size is not None and (height, width) != tuple(expect_size):
        raise FlowFormatError(
            p, f"reliability map is {width}x{height}, frame is {expect_size[1]}x{expect_size[0]}"
        )
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(p, f"cannot read reliability map ({exc.strerror or exc})") from exc
    magic, width, height, maxval, offset = _header(raw, p)
    count = width * height
    if magic == b"P5":
        dtype = np.dtype("u1") if maxval < 256 else np.dtype(">u2")
        need = count * dtype.itemsize
        if len(raw) - offset < need:
            raise FlowFormatError(p, f"truncated PGM data ({len(raw) - offset} of {need} bytes)")
        data = np.frombuffer(raw, dtype=dtype, count=count, offset=offset).astype(np.int64)
    else:
        fields = raw[offset:].split()
        if len(fields) != count:
            raise FlowFormatError(p, f"PGM holds {len(fields)} values, a {width}x{height} map needs {count}")
        try:
            data = np.array([int(f) for f in fields], dtype=np.int64)
        except ValueError as exc:
            raise FlowFormatError(p, "non-numeric value in ascii PGM data") from exc
    if int(data.min()) < 0:
        raise FlowFormatError(p, f"negative PGM value {int(data.min())}")
    if int(data.max()) > maxval:
        raise FlowFormatError(p, f"PGM value {int(data.max())} exceeds maxval {maxval}")
    return (data.reshape(height, width).astype(np.float32) / np.float32(maxval)).astype(np.float32)


def write_pgm(path: str | Path, mask: np.ndarray) -> None:
    """Write a reliability map as an 8-bit binary PGM (P5), atomically; 255 = reliable.

    Args:
        path: destination; the folder must exist.
        mask: :math:`(H, W)` values in [0, 1] (clipped), stored as round(255 * m).

    Raises:
        ShapeError: ``mask`` is not 2-D.
        FlowFormatError: ``mask`` holds NaN.
        OutputError: the file cannot be written.
    """
    sizes = check_shape(mask, "H W", "mask")
    m = np.asarray(mask, dtype=np.float32)
    if np.isnan(m).any():
        raise FlowFormatError(path, "refusing to write a reliability map that holds NaN")
    data = np.rint(np.clip(m, 0.0, 1.0) * 255.0).astype(np.uint8)
    header = f"P5\n{sizes['W']} {sizes['H']}\n255\n".encode("ascii")
    write_atomic(path, header + data.tobytes())
