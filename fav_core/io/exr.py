"""OpenEXR reading (every part of a multi-part file) and atomic writing, through OpenImageIO.

Blender 5.0 writes one part per render pass (``ViewLayer.Combined``, ``ViewLayer.Vector`` ...); OIIO shows parts
as subimages, so a reader that only opens subimage 0 sees only Combined. Channel names are kept exactly as in
the file: ``ViewLayer.Combined.R``, ``ViewLayer.Vector.X``, or single-part names like ``R`` and ``forward.u``.
EXR colour is scene-linear and premultiplied (associated alpha); converting it is the caller's job.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from fav_core.errors import InputError, OutputError, ShapeError
from fav_core.io.atomic import atomic_write
from fav_core.io.oiio_text import oiio_message

log = logging.getLogger(__name__)

_RGB = ("R", "G", "B")


def read_exr_channels(path: str | Path) -> dict[str, np.ndarray]:
    """Read every channel of every part (subimage) of an EXR file.

    Args:
        path: the EXR file.

    Returns:
        Channel name (as in the file) -> (H, W) float32 over the display window (pixels outside a part's data
        window are 0). Half channels are converted to float32. Rows top to bottom.

    Raises:
        InputError: the file is missing or unreadable, a part is a deep image, or its parts have different
            display windows.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no such file")
    if p.stat().st_size == 0:
        raise InputError(p, "empty file (0 bytes)")
    inp = oiio.ImageInput.open(str(p))
    if inp is None:
        raise InputError(p, f"cannot read EXR: {oiio_message(oiio.geterror(), 'unknown OpenImageIO error')}")
    channels: dict[str, np.ndarray] = {}
    size: tuple[int, int] | None = None
    try:
        sub = 0
        while inp.seek_subimage(sub, 0):  # one subimage per part (Blender 5.0: one part per pass)
            spec = inp.spec()
            if spec.deep:
                raise InputError(p, f"part {sub} is a deep image; flatten it first (e.g. oiiotool --flatten, Nuke "
                                 "DeepToImage)")
            full = (int(spec.full_height), int(spec.full_width))
            if size is None:
                size = full
            elif size != full:
                raise InputError(p, f"part {sub} is {full[1]}x{full[0]}, part 0 is {size[1]}x{size[0]}")
            data = inp.read_image(sub, 0, 0, int(spec.nchannels), "float")
            if data is None:
                raise InputError(p, f"cannot read EXR part {sub}: {oiio_message(inp.geterror(), 'no pixels')}")
            pixels = _to_display_window(np.asarray(data, dtype=np.float32), spec)
            for c, name in enumerate(spec.channelnames):
                if name in channels:
                    log.warning("%s: channel %s appears in more than one part; keeping the first", p, name)
                    continue
                channels[name] = np.ascontiguousarray(pixels[..., c])
            sub += 1
    finally:
        inp.close()
    if not channels:
        raise InputError(p, "EXR file has no channels")
    return channels


def _to_display_window(data: np.ndarray, spec: oiio.ImageSpec) -> np.ndarray:
    """Place a part's data window into its display window (zeros outside the data window)."""
    h, w, nch = int(spec.height), int(spec.width), int(spec.nchannels)
    data = data.reshape(h, w, nch)
    fx, fy, fw, fh = int(spec.full_x), int(spec.full_y), int(spec.full_width), int(spec.full_height)
    if (int(spec.x), int(spec.y), w, h) == (fx, fy, fw, fh):
        return data
    out = np.zeros((fh, fw, nch), np.float32)
    x0, y0 = int(spec.x) - fx, int(spec.y) - fy
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    cw, ch = min(w - sx0, fw - dx0), min(h - sy0, fh - dy0)
    if cw > 0 and ch > 0:
        out[dy0 : dy0 + ch, dx0 : dx0 + cw] = data[sy0 : sy0 + ch, sx0 : sx0 + cw]
    return out


def _rgba_names(names: list[str]) -> tuple[list[str], str | None] | None:
    """Pick the colour channels: plain R,G,B(,A), else the first ``<layer>.Combined.R,G,B(,A)``, else a
    luminance-only image's Y(,A) (grey: Y stands for all three)."""
    if all(c in names for c in _RGB):
        return list(_RGB), ("A" if "A" in names else None)
    for name in names:
        if ".Combined." in f".{name}" and name.endswith(".R"):
            base = name[:-1]
            if all(base + c in names for c in _RGB):
                return [base + c for c in _RGB], (base + "A" if base + "A" in names else None)
    if "Y" in names and not any(c in names for c in ("RY", "BY", *_RGB)):  # not luminance/chroma images
        return ["Y", "Y", "Y"], ("A" if "A" in names else None)
    return None


def find_rgba(
    channels: dict[str, np.ndarray], path: str | Path = "<EXR channels>"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Find the colour (and alpha) among EXR channels.

    Plain ``R, G, B, A`` win; otherwise the first layer whose names contain ``.Combined.`` (Blender,
    e.g. ``ViewLayer.Combined.R``; the view-layer name does not matter); otherwise a luminance-only ``Y(, A)``
    image, as grey.

    Args:
        channels: name -> (H, W) float32, as from :func:`read_exr_channels`.
        path: the file the channels came from, for error messages.

    Returns:
        ``(rgb, alpha)``: (H, W, 3) float32 (as stored: linear, premultiplied) and (H, W) float32 or None.

    Raises:
        InputError: no RGB channels, or NaN/Inf colour or alpha pixels (says how many pixels).
    """
    names = list(channels)
    picked = _rgba_names(names)
    if picked is None:
        shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
        raise InputError(path, f"no R,G,B, <layer>.Combined.R,G,B or Y channels (found: {shown})")
    rgb_names, alpha_name = picked
    rgb = np.stack([channels[n] for n in rgb_names], axis=-1).astype(np.float32, copy=False)
    alpha = None if alpha_name is None else channels[alpha_name].astype(np.float32, copy=True)
    bad = ~np.isfinite(rgb).all(axis=-1)
    if alpha is not None:
        bad |= ~np.isfinite(alpha)
    count = int(bad.sum())
    if count:
        raise InputError(path, f"{count} pixel(s) have NaN or Inf colour/alpha values")
    return rgb, alpha


def write_exr(
    path: str | Path,
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    extra: dict[str, np.ndarray] | None = None,
    *,
    half: bool = False,
    compression: str = "zip",
) -> None:
    """Write a single-part EXR atomically (temp file in the same folder, then rename).

    Values are written as given: by EXR convention colour should be scene-linear and premultiplied.

    Args:
        path: destination ``.exr``.
        rgb: (H, W, 3) float colour -> channels R, G, B.
        alpha: optional (H, W) -> channel A.
        extra: optional name -> (H, W) channels written after RGBA (e.g. ``{"forward.u": ...}``).
        half: store 16-bit half floats instead of 32-bit floats.
        compression: EXR compression name ("zip", "piz", "none", ...).

    Raises:
        ShapeError: arrays of the wrong shape.
        OutputError: the file cannot be written (names the path).
    """
    p = Path(path)
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ShapeError(f"rgb: expected (H, W, 3), got {tuple(rgb.shape)}")
    h, w = rgb.shape[:2]
    planes = [rgb[..., i] for i in range(3)]
    names = list(_RGB)
    if alpha is not None:
        names.append("A")
        planes.append(np.asarray(alpha))
    for name, plane in (extra or {}).items():
        if name in names:
            raise ShapeError(f"extra channel {name!r} duplicates a colour channel")
        names.append(name)
        planes.append(np.asarray(plane))
    for name, plane in zip(names, planes, strict=True):
        if plane.shape != (h, w):
            raise ShapeError(f"channel {name}: expected ({h}, {w}), got {tuple(plane.shape)}")
    data = np.ascontiguousarray(np.stack(planes, axis=-1).astype(np.float32))
    spec = oiio.ImageSpec(w, h, len(names), oiio.HALF if half else oiio.FLOAT)
    spec.channelnames = tuple(names)
    spec.alpha_channel = 3 if alpha is not None else -1
    spec.attribute("compression", compression)

    def _write(tmp: Path) -> None:
        out = oiio.ImageOutput.create(str(tmp))
        if out is None:
            raise OutputError(p, f"cannot create EXR writer: {oiio.geterror()}")
        try:
            if not out.open(str(tmp), spec) or not out.write_image(data):
                raise OutputError(p, f"cannot write EXR: {out.geterror()}")
        finally:
            out.close()

    atomic_write(p, _write)
