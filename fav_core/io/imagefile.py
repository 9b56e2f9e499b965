"""Reading one still image (PNG/JPEG/TIFF/EXR/...) into a Frame: colour decoding, alpha, host vectors.

Colour rule (``colorspace="auto"``): integer images (8/16-bit PNG, JPEG, TIFF) are sRGB-encoded and pass
through; EXR and float TIFF/HDR are scene-linear and are encoded with the sRGB curve for the network.
``"linear"`` / ``"srgb"`` force the interpretation. Frames always come out unpremultiplied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from fav_core.errors import ConfigError, InputError, ShapeError
from fav_core.io.color import linear_to_srgb, unpremultiply
from fav_core.io.exr import find_rgba, read_exr_channels
from fav_core.io.oiio_text import oiio_message
from fav_core.io.source import COLORSPACES
from fav_core.io.truncation import check_complete
from fav_core.types import Frame

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {"png", "jpg", "jpeg", "tif", "tiff", "exr", "bmp", "ppm", "pgm", "pnm", "tga", "webp", "hdr", "dpx"}
)

_FLOAT_TYPES = {oiio.BASETYPE.HALF: "half", oiio.BASETYPE.FLOAT: "float", oiio.BASETYPE.DOUBLE: "float"}
_INT_TYPES = {
    oiio.BASETYPE.UINT8: "uint8",
    oiio.BASETYPE.INT8: "uint8",
    oiio.BASETYPE.UINT16: "uint16",
    oiio.BASETYPE.INT16: "uint16",
}
# Channel-name hints of host motion vectors (Blender ``<layer>.Vector.X``; Nuke ``forward.u`` / ``backward.u``).
_VECTOR_PREFIXES = ("forward.", "backward.", "motion.")


@dataclass(frozen=True)
class ImageHeader:
    """What a header says about an image, without decoding pixels.

    Attributes:
        size: (H, W) of the display window.
        pixel_format: "uint8", "uint16", "half" or "float".
        is_exr: the file is OpenEXR (scene-linear, premultiplied by convention).
        channels: channel names of every part (EXR multi-part files: all parts, in order).
    """

    size: tuple[int, int]
    pixel_format: str
    is_exr: bool
    channels: tuple[str, ...] = ()

    @property
    def is_float(self) -> bool:
        return self.pixel_format in ("half", "float")


def _unassociated_config() -> oiio.ImageSpec:
    """Ask OIIO to hand out PNG/TIFF alpha as stored (unassociated) instead of premultiplying it."""
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)
    return config


def read_header(path: str | Path) -> ImageHeader:
    """Read an image header (cheap: no pixel decoding) and check that a PNG or EXR file is not cut short
    (:mod:`fav_core.io.truncation`: its end or its chunk table, a few KB).

    Raises:
        InputError: missing, empty, truncated or unreadable file.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no such file")
    if p.stat().st_size == 0:
        raise InputError(p, "empty file (0 bytes)")
    check_complete(p)
    inp = oiio.ImageInput.open(str(p))
    if inp is None:
        raise InputError(p, f"cannot read image: {oiio_message(oiio.geterror(), 'unknown format')}")
    try:
        spec = inp.spec()
        fmt_name = inp.format_name()
        names = list(spec.channelnames)
        part = 1
        while fmt_name == "openexr" and inp.seek_subimage(part, 0):  # multi-part EXR: headers only
            names += list(inp.spec().channelnames)
            part += 1
    finally:
        inp.close()
    base = spec.format.basetype
    pixel_format = _FLOAT_TYPES.get(base) or _INT_TYPES.get(base) or "float"
    return ImageHeader((int(spec.full_height), int(spec.full_width)), pixel_format, fmt_name == "openexr",
                       tuple(names))


def is_linear(header: ImageHeader, colorspace: str) -> bool:
    """Whether the stored values are scene-linear under the colour rule (see module docstring)."""
    if colorspace not in COLORSPACES:
        raise ConfigError(f"colorspace must be one of {', '.join(COLORSPACES)}, got {colorspace!r}")
    if colorspace == "auto":
        return header.is_exr or header.is_float
    return colorspace == "linear"


def has_vector_channels(names: list[str]) -> bool:
    """True when EXR channel names include host motion vectors (Blender Vector pass or Nuke forward/backward)."""
    return any(".Vector." in f".{n}" or n.startswith(_VECTOR_PREFIXES) for n in names)


def _read_plain(p: Path) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Pixels of a non-EXR image: (rgb (H,W,3) float32 as stored, alpha or None, alpha_is_associated)."""
    inp = oiio.ImageInput.open(str(p), _unassociated_config())
    if inp is None:
        raise InputError(p, f"cannot read image: {oiio_message(oiio.geterror(), 'unknown format')}")
    try:
        spec = inp.spec()
        nch = int(spec.nchannels)
        base = spec.format.basetype
        native = base in (oiio.BASETYPE.UINT8, oiio.BASETYPE.UINT16)
        # Integers are read natively and divided here, so that code k becomes exactly k/255 (or k/65535).
        pixels = inp.read_image(0, 0, 0, nch, spec.format if native else "float")
        err = inp.geterror()
    finally:
        inp.close()
    if pixels is None:
        raise InputError(p, f"cannot decode image: {oiio_message(err, 'no pixels')}")
    px = np.asarray(pixels).reshape(int(spec.height), int(spec.width), nch)
    if native:
        px = px.astype(np.float32) / np.float32(255.0 if base == oiio.BASETYPE.UINT8 else 65535.0)
    else:
        px = px.astype(np.float32, copy=False)
    alpha_ch = int(spec.alpha_channel)
    if nch == 1:
        rgb, alpha = np.repeat(px, 3, axis=2), None
    elif nch == 2:
        rgb, alpha = np.repeat(px[..., :1], 3, axis=2), px[..., 1].copy()
    else:
        rgb = np.ascontiguousarray(px[..., :3])
        alpha = px[..., 3].copy() if nch >= 4 and alpha_ch in (-1, 3) else None
    associated = alpha is not None and not bool(spec.get_int_attribute("oiio:UnassociatedAlpha", 0))
    return rgb, alpha, associated


def _fill_vectors(
    frame: Frame, channels: dict[str, np.ndarray], p: Path, required: bool, convention: str = "auto"
) -> None:
    """Convert host vector channels into the frame's backward/forward flow (fav_core.flow.vectors)."""
    from fav_core.flow.vectors import vectors_from_channels  # lazy: only EXRs with vectors need it

    try:
        vectors = vectors_from_channels(channels, convention=convention)
    except (ConfigError, ShapeError) as exc:
        raise InputError(p, f"motion vectors: {exc}") from exc
    if vectors is None:
        if required:
            raise InputError(p, "motion-vector channels are incomplete or have no direction")
        return
    frame.flow_to_prev = vectors.flow_to_prev
    frame.flow_to_next = vectors.flow_to_next
    frame.flow_valid = vectors.valid


ALPHA_MODES = ("auto", "ignore")
#: Colour below this (as stored) where alpha is 0 counts as nothing (float noise, half rounding).
_EMISSION_EPS = 1e-4


def emission_pixels(rgb: np.ndarray, alpha: np.ndarray) -> int:
    """Pixels of a premultiplied image with colour where alpha is 0 (additive light: glows, fire, flares).

    Unpremultiplying gives them colour 0 and premultiplying the output by alpha keeps them 0, so their light is
    not in the output.

    Args:
        rgb: (H, W, 3) premultiplied colour as stored.
        alpha: (H, W).
    """
    return int(((np.asarray(alpha) <= 0) & (np.abs(np.asarray(rgb)).max(axis=-1) > _EMISSION_EPS)).sum())


def _warn_highlights(path: Path, linear_rgb: np.ndarray) -> None:
    """Warn when a scene-linear frame :math:`(H, W, 3)` has pixels above 1.0: the style networks were trained on
    display-referred [0, 1] pictures and paint at most about 1.0, so highlights come out clipped."""
    bright = int(np.count_nonzero(np.max(linear_rgb, axis=-1) > 1.0))
    if bright:
        share = 100.0 * bright / max(1, linear_rgb.shape[0] * linear_rgb.shape[1])
        log.warning("%s: %d pixel(s) (%.1f%%) are brighter than 1.0 (scene-linear, peak %.3g); the network paints "
                    "at most about 1.0, so these highlights come out clipped (expose the plate down before "
                    "stylizing to keep them)", path, bright, share, float(np.max(linear_rgb)))


def read_image_frame(
    path: str | Path, index: int, *, colorspace: str = "auto", vectors: bool | None = None,
    vector_convention: str = "auto", alpha_mode: str = "auto", warn_first_frame: bool = False,
) -> Frame:
    """Read one image file as a Frame (sRGB-encoded, unpremultiplied rgb; alpha; host vectors for EXR).

    Args:
        path: the image file.
        index: the frame number to put in the Frame.
        colorspace: "auto" (by format), "linear" or "srgb" (see module docstring).
        vectors: None = read host vectors when the EXR has them; True = require them; False = ignore them.
        vector_convention: whose channels hold the vectors: "auto", "blender" or "nuke".
        alpha_mode: "auto" = carry alpha (colour unpremultiplied for the network, premultiplied again on
            output); "ignore" = no alpha: the colour as stored (for EXR: the picture over black, additive light
            included) and frames without alpha.
        warn_first_frame: log a warning when a premultiplied image has colour where alpha is 0 (see
            :func:`emission_pixels`) or a scene-linear image has highlights above 1.0 (the networks paint at most
            about 1.0: they come out clipped); sources ask for it on their first frame only.

    Returns:
        Frame(index, rgb (H, W, 3) float32, alpha (H, W) float32 or None, host flows for EXR with vectors).

    Raises:
        InputError: unreadable file, no RGB channels, NaN/Inf pixels, or required vectors missing.
    """
    if alpha_mode not in ALPHA_MODES:
        raise ConfigError(f"alpha mode must be one of {', '.join(ALPHA_MODES)}, got {alpha_mode!r}")
    p = Path(path)
    header = read_header(p)
    linear = is_linear(header, colorspace)
    channels: dict[str, np.ndarray] | None = None
    if header.is_exr:
        channels = read_exr_channels(p)
        rgb, alpha = find_rgba(channels, p)
        associated = alpha is not None
    else:
        rgb, alpha, associated = _read_plain(p)
        if header.is_float:
            bad = int((~np.isfinite(rgb).all(axis=-1)).sum())
            if bad:
                raise InputError(p, f"{bad} pixel(s) have NaN or Inf colour values")
    if alpha_mode == "ignore":
        alpha = None
    if associated and alpha is not None:
        if warn_first_frame:
            lit = emission_pixels(rgb, alpha)
            if lit:
                log.warning("%s: %d pixel(s) have colour where alpha is 0 (additive light such as glows); the "
                            "output is premultiplied by alpha, so that light is not in it (--alpha ignore keeps it "
                            "and drops the alpha)", p, lit)
        rgb = unpremultiply(rgb, alpha)
    if linear:
        if warn_first_frame:
            _warn_highlights(p, rgb)
        rgb = linear_to_srgb(rgb)
    frame = Frame(index=index, rgb=rgb.astype(np.float32, copy=False), alpha=alpha, source=str(p))
    if vectors is not False:
        if channels is not None and has_vector_channels(list(channels)):
            _fill_vectors(frame, channels, p, bool(vectors), vector_convention)
        elif vectors:
            raise InputError(
                p, "no motion-vector channels (expected <layer>.Vector.X/Y/Z/W or forward/backward.u/v)"
            )
    return frame
