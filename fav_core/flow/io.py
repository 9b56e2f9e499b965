"""Middlebury ``.flo`` files: strict reader, atomic writer.

Layout (little-endian): float32 tag 202021.25 ("PIEH"), int32 width, int32 height, then H*W interleaved
float32 pairs (u = dx, v = dy), rows top to bottom. That is exactly our ``(H, W, 2)`` order, so no channel swap
happens here (the Lua reference swaps to (dy, dx) after loading; we do not).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from fav_core.errors import FlowFormatError, InputError, OutputError, check_shape
from fav_core.io.atomic import create_temp

logger = logging.getLogger(__name__)

FLO_TAG = 202021.25
"""Magic float of every .flo file (bytes ``PIEH``)."""
MAX_FLO_SIDE = 2**15
"""Largest width/height accepted, to catch garbage headers before allocating."""
_HEADER_BYTES = 12


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, then ``os.replace``).

    Readers never see a half-written file, and an interrupted write leaves the old file (if any) intact.

    Raises:
        OutputError: the folder does not exist or cannot be written.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    tmp_name: str | None = None
    try:
        tmp_name = str(create_temp(folder, f".{target.name}.", ".tmp"))  # the umask's mode, not mkstemp's 0600
        with open(tmp_name, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
        tmp_name = None
    except OSError as exc:
        raise OutputError(target, f"cannot write ({exc.strerror or exc})") from exc
    finally:
        if tmp_name is not None and os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _open_flo(path: str | Path) -> tuple[Path, BinaryIO, int, int]:
    """Open a .flo file and check its header against the file length, before reading any flow data.

    Returns:
        (path, open file positioned after the header, height, width); the caller closes the file.
    """
    p = Path(path)
    try:
        f = p.open("rb")
    except FileNotFoundError as exc:
        raise InputError(p, "flow file not found") from exc
    except OSError as exc:
        raise InputError(p, f"cannot read flow file ({exc.strerror or exc})") from exc
    try:
        size = os.fstat(f.fileno()).st_size
        raw = f.read(_HEADER_BYTES)
        if len(raw) < _HEADER_BYTES:
            raise FlowFormatError(p, f"not a .flo file (only {len(raw)} bytes)")
        tag = float(np.frombuffer(raw, dtype="<f4", count=1, offset=0)[0])
        if tag != FLO_TAG:
            raise FlowFormatError(p, f"not a .flo file (magic {raw[:4]!r}, expected b'PIEH')")
        width, height = (int(v) for v in np.frombuffer(raw, dtype="<i4", count=2, offset=4))
        if not (0 < width <= MAX_FLO_SIDE and 0 < height <= MAX_FLO_SIDE):
            raise FlowFormatError(p, f"bad size {width}x{height} in the header")
        expected = _HEADER_BYTES + 8 * width * height
        if size != expected:
            raise FlowFormatError(
                p, f"file is {size} bytes, a {width}x{height} flow needs {expected} (truncated or padded)"
            )
    except OSError as exc:
        f.close()
        raise InputError(p, f"cannot read flow file ({exc.strerror or exc})") from exc
    except BaseException:
        f.close()
        raise
    return p, f, height, width


def read_flo_header(path: str | Path) -> tuple[int, int]:
    """Size of a ``.flo`` file from its header, checked against the file length (no flow data is read).

    Returns:
        (H, W).

    Raises:
        InputError: the file is missing or unreadable.
        FlowFormatError: bad magic, bad size, or a length that does not fit the header.
    """
    _, f, height, width = _open_flo(path)
    f.close()
    return height, width


def read_flo(path: str | Path) -> np.ndarray:
    """Read a Middlebury ``.flo`` file.

    The header is checked against the file length before the data is read, so a garbage or oversized file
    never makes us allocate more than its header promises.

    Args:
        path: the file.

    Returns:
        flow :math:`(H, W, 2)` float32, channel 0 = dx, 1 = dy (pixels).

    Raises:
        InputError: the file is missing or unreadable.
        FlowFormatError: bad magic, bad size, wrong length or non-finite values.

    Convention:
        - values are stored (u, v) = (dx, dy), x right, y down, row 0 = top row; no swap on load
        - which frame the flow starts at / points to is in the file name, not in the file

    Example:
        >>> import tempfile, os, numpy as np
        >>> p = os.path.join(tempfile.mkdtemp(), "f.flo")
        >>> write_flo(p, np.zeros((2, 3, 2), np.float32))
        >>> read_flo(p).shape
        (2, 3, 2)
    """
    p, f, height, width = _open_flo(path)
    try:
        with f:
            raw = f.read(8 * width * height)
    except OSError as exc:
        raise InputError(p, f"cannot read flow file ({exc.strerror or exc})") from exc
    if len(raw) != 8 * width * height:
        raise FlowFormatError(p, f"file shrank while reading ({len(raw) + _HEADER_BYTES} bytes)")
    flow = np.frombuffer(raw, dtype="<f4").reshape(height, width, 2)
    flow = flow.astype(np.float32)  # native byte order, writable copy
    if not np.isfinite(flow).all():
        bad = int((~np.isfinite(flow)).any(axis=2).sum())
        raise FlowFormatError(p, f"{bad} pixel(s) hold NaN or Inf")
    return flow


def write_flo(path: str | Path, flow: np.ndarray) -> None:
    """Write a Middlebury ``.flo`` file atomically.

    Args:
        path: destination; the folder must exist.
        flow: :math:`(H, W, 2)` flow in pixels, channel 0 = dx, 1 = dy; any float dtype (stored as float32).

    Raises:
        ShapeError: ``flow`` is not (H, W, 2).
        FlowFormatError: ``flow`` holds NaN/Inf or is larger than 2**15 on a side.
        OutputError: the file cannot be written.

    Convention:
        - stored (u, v) = (dx, dy) interleaved, little-endian, rows top to bottom
    """
    sizes = check_shape(flow, "H W 2", "flow")
    height, width = sizes["H"], sizes["W"]
    if not (0 < width <= MAX_FLO_SIDE and 0 < height <= MAX_FLO_SIDE):
        raise FlowFormatError(path, f"cannot store a {width}x{height} flow")
    data = np.asarray(flow, dtype="<f4")
    if not np.isfinite(data).all():
        raise FlowFormatError(path, "refusing to write a flow that holds NaN or Inf")
    header = np.array([FLO_TAG], dtype="<f4").tobytes() + np.array([width, height], dtype="<i4").tobytes()
    write_atomic(path, header + np.ascontiguousarray(data).tobytes())
    logger.debug("wrote %s (%dx%d)", path, width, height)
