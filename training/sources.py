"""Training data sources generated exactly as the reference does (algorithm.md §10.3, §10.4).

Every source returns a :class:`Sample`: K+1 frames in pre-space, K backward flows and K reliability masks, where
flow s (0-based) is the backward flow of frame s+1 (s+1 → s): warping frame s with it gives frame s+1 where the
mask is 1. Flows use our convention (channel 0 = dx, channel 1 = dy; the reference stores (dy, dx) internally,
the meaning is the same). Geometric ops run in pre-space after preprocessing, with align-corners bilinear resizing
without antialiasing (torch `SpatialUpSamplingBilinear` semantics), also when downscaling.

One optional extension that the reference does not have: :class:`ImageBank` can take a random square crop
(with a random horizontal flip) of each stored image before the sources see it (`crop_size > 0`), to stretch a
small content set. With `crop_size=0` the stored images are used as they are (reference behaviour).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from fav_core.errors import ConfigError, InputError
from fav_core.nets.preprocess import preprocess

#: The reference draws dx, dy as floor(U*32) - 16, i.e. integers in [-16, 15].
MAX_SHIFT = 16


@dataclass(frozen=True)
class Sample:
    """One training batch of a K-step recursion.

    Attributes:
        frames: K+1 tensors `(B, 3, H, W)` in pre-space.
        flows: K tensors `(B, 2, H, W)`; flows[s] = backward flow of frame s+1 (s+1 → s), channel 0 = dx.
        masks: K tensors `(B, 1, H, W)` in [0, 1], 1 = reliable (before the min filter).
        source: Name of the source that made it.
        zero_first: True when the first stylized frame is all zeros (the `single_image` source).
    """

    frames: tuple[torch.Tensor, ...]
    flows: tuple[torch.Tensor, ...]
    masks: tuple[torch.Tensor, ...]
    source: str
    zero_first: bool = False

    @property
    def steps(self) -> int:
        """Number of recursion steps K."""
        return len(self.flows)


def resize_bilinear(x: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """Align-corners bilinear resize without antialiasing (torch7 `SpatialUpSamplingBilinear` with a size).

    Args:
        x: `(B, C, H, W)` tensor.
        size_hw: Output (H', W').

    Returns:
        `(B, C, H', W')` tensor (a new tensor even if the size is unchanged).
    """
    if tuple(x.shape[-2:]) == tuple(size_hw):
        return x.clone()
    return F.interpolate(x, size=size_hw, mode="bilinear", align_corners=True, antialias=False)


def draw_shift(generator: torch.Generator) -> tuple[int, int]:
    """Draw (dx, dy), each floor(U*32) - 16 ∈ {-16, ..., 15}, independently (one pair per batch)."""
    u = torch.rand(2, generator=generator, dtype=torch.float64)
    dx, dy = (int(math.floor(float(v) * 2 * MAX_SHIFT)) - MAX_SHIFT for v in u)
    return dx, dy


def shift_mask(height: int, width: int, dx: int, dy: int) -> torch.Tensor:
    """Reliability mask of the shift / zoom_out sources, reference quirk included.

    dx > 0 zeroes the last dx+1 columns (one more than the motion uncovers), dx < 0 the first |dx| columns;
    rows likewise with dy.

    Args:
        height: Mask height.
        width: Mask width.
        dx: Horizontal shift in pixels.
        dy: Vertical shift in pixels.

    Returns:
        `(1, 1, H, W)` float32 mask of 0/1.
    """
    mask = torch.ones(1, 1, height, width)
    if dx > 0:
        mask[..., :, width - dx - 1 :] = 0
    elif dx < 0:
        mask[..., :, : -dx] = 0
    if dy > 0:
        mask[..., height - dy - 1 :, :] = 0
    elif dy < 0:
        mask[..., : -dy, :] = 0
    return mask


def make_single_image(pre: torch.Tensor, size_hw: tuple[int, int]) -> Sample:
    """`single_image`: frames = [zeros, image resized to H×W], zero flow, all-occluded mask.

    Args:
        pre: `(B, 3, Hs, Ws)` pre-space images.
        size_hw: Training size (H, W).
    """
    image = resize_bilinear(pre, size_hw)
    batch = image.shape[0]
    flow = torch.zeros(batch, 2, *size_hw)
    mask = torch.zeros(batch, 1, *size_hw)
    return Sample((torch.zeros_like(image), image), (flow,), (mask,), "single_image", zero_first=True)


def make_shift(pre: torch.Tensor, steps: int, size_hw: tuple[int, int], dx: int, dy: int) -> Sample:
    """`shift`: K+1 crops of the image resized to (H+16K)×(W+16K), moving by (dx, dy) per step.

    Frame s (0-based) is the H×W crop with top-left x = max(-dx(K-s), 0) + max(dx·s, 0) (y likewise), so
    frame_{s+1}(x, y) = frame_s(x + dx, y + dy): the backward flow is the constant (dx, dy).

    Args:
        pre: `(B, 3, Hs, Ws)` pre-space images.
        steps: K >= 1.
        size_hw: Training size (H, W).
        dx: Horizontal shift per step, in [-16, 15].
        dy: Vertical shift per step, in [-16, 15].

    Convention:
        Backward flow of frame s+1 maps its pixel (x, y) to (x + dx, y + dy) in frame s.
    """
    height, width = size_hw
    big = resize_bilinear(pre, (height + MAX_SHIFT * steps, width + MAX_SHIFT * steps))
    frames = []
    for s in range(steps + 1):
        x0 = max(-dx * (steps - s), 0) + max(dx * s, 0)
        y0 = max(-dy * (steps - s), 0) + max(dy * s, 0)
        frames.append(big[:, :, y0 : y0 + height, x0 : x0 + width].clone())
    batch = pre.shape[0]
    flow = torch.empty(batch, 2, height, width)
    flow[:, 0] = float(dx)
    flow[:, 1] = float(dy)
    mask = shift_mask(height, width, dx, dy).expand(batch, 1, height, width).clone()
    return Sample(tuple(frames), (flow,) * steps, (mask,) * steps, "shift")


def make_zoom_out(pre: torch.Tensor, steps: int, size_hw: tuple[int, int], dx: int, dy: int) -> Sample:
    """`zoom_out`: crops of the UN-resized image that widen by (|dx|, |dy|) per step, each resized to H×W.

    Frame s has origin (max(-dx(K-s), 0), max(-dy(K-s), 0)) and size (W - |dx|(K-s)) × (H - |dy|(K-s)). The
    (approximate, reference) flow varies linearly across columns from -max(-dx, 0) to max(dx, 0) for x and
    across rows from -max(-dy, 0) to max(dy, 0) for y; the mask is the shift mask.

    Args:
        pre: `(B, 3, Hs, Ws)` pre-space images with Hs >= H and Ws >= W.
        steps: K >= 1.
        size_hw: Training size (H, W).
        dx: Horizontal parameter in [-16, 15].
        dy: Vertical parameter in [-16, 15].

    Raises:
        ConfigError: the stored images are smaller than the training size.

    Convention:
        Backward flow of frame s+1 (s+1 → s), channel 0 = dx, channel 1 = dy, in pixels.
    """
    height, width = size_hw
    if pre.shape[-2] < height or pre.shape[-1] < width:
        raise ConfigError(
            f"zoom_out: stored images {tuple(pre.shape[-2:])} are smaller than the training size {size_hw}"
        )
    frames = []
    for s in range(steps + 1):
        x0, y0 = max(-dx * (steps - s), 0), max(-dy * (steps - s), 0)
        crop_w, crop_h = width - abs(dx) * (steps - s), height - abs(dy) * (steps - s)
        frames.append(resize_bilinear(pre[:, :, y0 : y0 + crop_h, x0 : x0 + crop_w], size_hw))
    batch = pre.shape[0]
    flow = torch.empty(batch, 2, height, width)
    flow[:, 0] = torch.linspace(-max(-dx, 0), max(dx, 0), width).view(1, width)
    flow[:, 1] = torch.linspace(-max(-dy, 0), max(dy, 0), height).view(height, 1)
    mask = shift_mask(height, width, dx, dy).expand(batch, 1, height, width).clone()
    return Sample(tuple(frames), (flow,) * steps, (mask,) * steps, "zoom_out")


#: The vr source's sides and, per side, the opposite border map used to place the strip on the canvas.
VR_SIDES = ("left", "right", "top", "bottom")
_VR_OPPOSITE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}
#: Sizes hard-coded in the reference vr source: the 384-px perspective step, c = 70, the 64-px strip, the 256 canvas.
VR_SOURCE_SIZE, VR_MAP_CROP, VR_STRIP, VR_CANVAS = 384, 70, 64, 256


def _vr_strip_window(side: str) -> tuple[slice, slice]:
    """0-based (rows, cols) of the 64-px strip cut from the perspective-mapped 384-px image.

    The reference cuts columns 320-383, rows 65-320 (1-based) for `left`; the other sides are the mirror /
    transposed windows (inferred by symmetry: `right` columns 2-65, `top` rows 320-383, `bottom` rows 2-65).
    """
    along = slice(64, 320)
    far = slice(VR_SOURCE_SIZE - VR_STRIP - 1, VR_SOURCE_SIZE - 1)
    near = slice(1, 1 + VR_STRIP)
    return {
        "left": (along, far),
        "right": (along, near),
        "top": (far, along),
        "bottom": (near, along),
    }[side]


def _border_map(side: str, size: int, crop: int, orig: int, *oversize: float) -> torch.Tensor:
    """A `fav_core.spherical.border_maps` map as a `(1, 2, H, W)` flow tensor."""
    from fav_core.spherical import border_maps

    offsets = getattr(border_maps, f"warp_map_{side}")(size, crop, orig, *oversize)
    return torch.from_numpy(offsets).permute(2, 0, 1)[None].contiguous()


def make_vr(pre: torch.Tensor, side: str) -> Sample:
    """`vr` (K = 1): continue a perspective-distorted neighbour-face border (algorithm.md §10.3).

    The image is resized to 384×384 and warped with `make_perspective_warp_map_<side>(384, 70, 384, 0)`; a 64-px
    strip of the mapped region becomes frame 1 (to be stylized as a first frame). The flow is the border map
    `make_perspective_warp_map_<opposite>(256, 64, 256, 0, 0)` (shifted by −(256 − 64) along the strip for the
    left/top sides so that it addresses the 64-px strip), which places the stylized strip into the matching
    64-px border of a 256×256 canvas; the mask is the same warp of an all-ones strip (fractional at the edges).
    Frame 2 is the whole image resized to 256×256.

    Args:
        pre: `(B, 3, Hs, Ws)` pre-space images.
        side: One of :data:`VR_SIDES`.

    Returns:
        A 1-step sample whose frame 1 is the strip (`(B, 3, 256, 64)` or `(B, 3, 64, 256)`).

    Convention:
        Border-map offsets are backward-warp offsets into the strip (channel 0 = dx, 1 = dy); 99999 = no content.
    """
    from fav_core.warp import warp_backward

    if side not in VR_SIDES:
        raise ConfigError(f"vr: side must be one of {', '.join(VR_SIDES)}, got {side!r}")
    batch = pre.shape[0]
    big = resize_bilinear(pre, (VR_SOURCE_SIZE, VR_SOURCE_SIZE))
    first_map = _border_map(side, VR_SOURCE_SIZE, VR_MAP_CROP, VR_SOURCE_SIZE, 0.0)
    mapped = warp_backward(big, first_map.expand(batch, -1, -1, -1))
    rows, cols = _vr_strip_window(side)
    strip = mapped[:, :, rows, cols].contiguous()
    flow = _border_map(_VR_OPPOSITE[side], VR_CANVAS, VR_STRIP, VR_CANVAS, 0.0, 0.0)
    if side in ("left", "top"):
        channel = 0 if side == "left" else 1
        flow[:, channel] -= VR_CANVAS - VR_STRIP
    flow = flow.expand(batch, -1, -1, -1).clone()
    mask = warp_backward(torch.ones(batch, 1, *strip.shape[-2:]), flow)
    frame = resize_bilinear(pre, (VR_CANVAS, VR_CANVAS))
    return Sample((strip, frame), (flow,), (mask,), "vr")


def _read(path: str, dataset: h5py.Dataset, index: tuple[slice, ...]) -> np.ndarray:
    """Read a slice of an HDF5 dataset; read failures (a truncated file, a dropped network share) name the file.

    Raises:
        InputError: the slice cannot be read.
    """
    try:
        return np.asarray(dataset[index])
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(path, f"cannot read {dataset.name} ({exc})") from None


class ImageBank:
    """Sequential batches from an image HDF5 (`<split>/images`, uint8 N×3×H×W; algorithm.md §11.1).

    Batches are read in order with wrap-around and no shuffling; the last batch of a pass may be smaller
    (reference DataLoader). The read position is part of the training state (see :attr:`position`). Only the
    batch being read is in memory (the file stays open), so the set may be far larger than RAM (COCO at 384 px).

    Args:
        path: HDF5 file.
        split: Group name, e.g. `train2014` or `val2014`.
        crop_size: 0 = use the stored images; > 0 = random square crop (side 50-100 % of the shorter side,
            random horizontal flip) resized to crop_size × crop_size with antialiasing (our augmentation).
    """

    def __init__(self, path: str | Path, split: str, crop_size: int = 0) -> None:
        self.path = str(path)
        self.crop_size = crop_size
        try:
            self._file = h5py.File(self.path, "r")
            self._images = self._file[f"{split}/images"]
        except (OSError, KeyError) as exc:
            raise InputError(self.path, f"cannot read '{split}/images' ({exc})") from None
        shape = self._images.shape
        if len(shape) != 4 or shape[1] != 3 or shape[0] == 0 or self._images.dtype != np.uint8:
            raise InputError(self.path, f"'{split}/images' must be N×3×H×W uint8, got {self._images.dtype} {shape}")
        self.position = 0

    def __len__(self) -> int:
        return int(self._images.shape[0])

    @property
    def image_hw(self) -> tuple[int, int]:
        """(H, W) of the images a batch holds: the crop size when cropping, else the stored size."""
        if self.crop_size > 0:
            return self.crop_size, self.crop_size
        return int(self._images.shape[2]), int(self._images.shape[3])

    def next_batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Return the next batch as `(B, 3, H, W)` float32 rgb01 (B may be smaller at the end of a pass)."""
        stop = min(self.position + batch_size, len(self))
        raw = torch.from_numpy(_read(self.path, self._images, (slice(self.position, stop),)).astype(np.float32) / 255.0)
        self.position = stop % len(self)
        if self.crop_size <= 0:
            return raw
        return torch.cat([self._random_crop(img, generator) for img in raw])

    def _random_crop(self, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        height, width = image.shape[-2:]
        shorter = min(height, width)
        low = max(shorter // 2, min(self.crop_size, shorter))
        side = int(torch.randint(low, shorter + 1, (1,), generator=generator))
        top = int(torch.randint(0, height - side + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - side + 1, (1,), generator=generator))
        crop = image[None, :, top : top + side, left : left + side]
        if float(torch.rand(1, generator=generator)) < 0.5:
            crop = torch.flip(crop, dims=(-1,))
        size = (self.crop_size, self.crop_size)
        return F.interpolate(crop, size=size, mode="bilinear", align_corners=False, antialias=True)


class VideoBank:
    """Sequential batches from a video HDF5 (`<split>/frames1|flow|cert`, algorithm.md §11.3).

    Only the batch being read is in memory (the file stays open). Shapes are checked when the bank opens; each
    batch's flow is checked for NaN / infinite values when it is read.

    Args:
        path: HDF5 file written by :func:`training.datasets.build_video_hdf5` (or the reference script).
        split: `train` or `val`.
    """

    def __init__(self, path: str | Path, split: str) -> None:
        self.path = str(path)
        self.split = split
        try:
            self._file = h5py.File(self.path, "r")
            self._frames = self._file[f"{split}/frames1"]
            self._flow = self._file[f"{split}/flow"]
            self._cert = self._file[f"{split}/cert"]
        except (OSError, KeyError) as exc:
            raise InputError(self.path, f"cannot read video split '{split}' ({exc})") from None
        self._check(split)
        self.position = 0

    def _check(self, split: str) -> None:
        """Refuse files whose frames, flows and certainties do not fit together.

        Raises:
            InputError: naming the file, the split and the dataset.
        """
        frames = self._frames.shape
        if len(frames) != 5 or frames[0] < 1 or frames[1] < 2 or frames[2] != 3 or self._frames.dtype != np.uint8:
            raise InputError(self.path, f"'{split}/frames1' must be uint8 (N, L>=2, 3, H, W), got "
                                        f"{self._frames.dtype} {frames}")
        count, length, _, height, width = frames
        for name, array, want in (
            ("flow", self._flow, (count, length - 1, 2, height, width)),
            ("cert", self._cert, (count, length - 1, height, width)),
        ):
            if array.shape != want:
                raise InputError(self.path, f"'{split}/{name}' has shape {array.shape}, the frames need {want}")

    def __len__(self) -> int:
        return int(self._frames.shape[0])

    @property
    def sequence_length(self) -> int:
        """Frames per stored sequence."""
        return int(self._frames.shape[1])

    def next_sample(self, batch_size: int, steps: int, preprocessing: str) -> Sample:
        """Read frames 1..K+1, flows 1..K and certainties 1..K of the next B sequences.

        Raises:
            ConfigError: the stored sequences are shorter than K+1.
            InputError: the batch cannot be read or its flow holds NaN or infinite values.
        """
        if steps + 1 > self.sequence_length:
            raise ConfigError(
                f"{self.path}: sequence length {self.sequence_length} < K+1 = {steps + 1} (--num-frame-steps)"
            )
        start, stop = self.position, min(self.position + batch_size, len(self))
        rows = slice(start, stop)
        frames = _read(self.path, self._frames, (rows, slice(0, steps + 1)))
        flow = _read(self.path, self._flow, (rows, slice(0, steps))).astype(np.float32)
        cert = _read(self.path, self._cert, (rows, slice(0, steps)))
        if not np.isfinite(flow).all():
            raise InputError(self.path, f"'{self.split}/flow' holds NaN or infinite values (sequences {start}-{stop - 1})")
        self.position = stop % len(self)
        frames_t = torch.from_numpy(frames.astype(np.float32) / 255.0)
        flows = torch.from_numpy(flow)
        certs = torch.from_numpy(cert.astype(np.float32) / 255.0)
        return Sample(
            tuple(preprocess(frames_t[:, s], preprocessing) for s in range(steps + 1)),
            tuple(flows[:, s] for s in range(steps)),
            tuple(certs[:, s, None] for s in range(steps)),
            "video",
        )


class SourceWheel:
    """Weighted choice of a data source: each source appears `weight` times on a wheel (P = w / Σw)."""

    def __init__(self, mix: dict[str, int]) -> None:
        self.wheel = tuple(name for name, weight in mix.items() for _ in range(weight))

    def pick(self, generator: torch.Generator) -> str:
        """Draw one source name uniformly from the wheel."""
        return self.wheel[int(torch.randint(0, len(self.wheel), (1,), generator=generator))]
