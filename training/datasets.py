"""Dataset builders: image folders → image HDF5 (algorithm.md §11.1), clips → video HDF5 (§11.3).

Image HDF5: `train2014/images` and `val2014/images`, uint8 N×3×H×W. Each image is cropped top-left to a
multiple of `max_resize` in H and W and resized to height×width (aspect not kept), as fns
`make_style_dataset.py` does; `center_square=True` (our option) first crops the central square so that photos
are not stretched.

Video HDF5: `<split>/frames1` uint8 (N, L, 3, H, W), `<split>/flow` float32 (N, L−1, 2, H, W) with entry k = the
backward flow of frame A+k+1 (A+k+1 → A+k), channel 0 = dx, 1 = dy, and `<split>/cert` uint8 (N, L−1, H, W),
0/255 = the forward-backward consistency check of that pair (no structure term, as for the reference's training
maps). Sequences start every `stride` frames; the order is shuffled with the seed.

Both builders are deterministic given their inputs and seed.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import cv2
import h5py
import numpy as np

from fav_core.errors import ConfigError, InputError, OutputError
from fav_core.flow.providers import FlowProvider

LOG = logging.getLogger(__name__)

#: scikit-image's bundled photos used as training content (greys are copied to 3 channels).
SKIMAGE_TRAIN = (
    "coffee",
    "chelsea",
    "rocket",
    "camera",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "brick",
    "grass",
    "moon",
    "cell",
    "coins",
)
#: Held out for validation during training.
SKIMAGE_VAL = ("gravel", "clock")
#: Held out for evaluation and the demo clip; never used for training or validation.
SKIMAGE_EVAL = ("astronaut",)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")


def as_rgb_u8(image: np.ndarray, name: str) -> np.ndarray:
    """Convert a grey / RGB / RGBA / bool / float image to `(H, W, 3)` uint8 RGB.

    Raises:
        InputError: unsupported shape.
    """
    array = np.asarray(image)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        array = np.clip(np.rint(array.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise InputError(name, f"expected a grey, RGB or RGBA image, got shape {array.shape}")
    return np.ascontiguousarray(array[..., :3])


def skimage_photos(names: Sequence[str]) -> dict[str, np.ndarray]:
    """Load photos bundled with scikit-image by name as RGB uint8.

    Raises:
        InputError: unknown name or an image that is not bundled (would need a download).
    """
    import skimage.data

    photos = {}
    for name in names:
        loader = getattr(skimage.data, name, None)
        if loader is None:
            raise InputError(f"skimage.data.{name}", "no such bundled image")
        try:
            photos[name] = as_rgb_u8(loader(), f"skimage.data.{name}")
        except (ImportError, OSError, ValueError) as exc:
            raise InputError(f"skimage.data.{name}", f"cannot load without a download ({exc})") from None
    return photos


class ImageFolder(Mapping[str, np.ndarray]):
    """The image files of a folder as a read-on-access mapping name -> `(H, W, 3)` uint8 RGB.

    Nothing is decoded until an image is asked for, so a dataset build holds one photo at a time (a COCO-sized
    folder decoded up front needs tens of GB). Names are in natural order (`f2` before `f10`); keys are the file
    stems (the full names where two files share a stem).

    Args:
        folder: The folder.

    Raises:
        InputError: the folder is missing or holds no image files (at construction); a file cannot be decoded
            (when it is read).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(self.folder, "not a folder")
        files = sorted((p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
        if not files:
            raise InputError(self.folder, f"no images ({', '.join(IMAGE_SUFFIXES)})")
        stems = Counter(p.stem for p in files)  # not list.count per file: quadratic on a COCO-sized folder
        self._files = {(p.stem if stems[p.stem] == 1 else p.name): p for p in files}

    def __getitem__(self, name: str) -> np.ndarray:
        path = self._files[name]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(path, "cannot decode the image")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def __contains__(self, name: object) -> bool:  # Mapping's default decodes the image (and raises if it cannot)
        return name in self._files

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


def read_image_folder(folder: str | Path) -> ImageFolder:
    """The images of a folder, read when accessed (see :class:`ImageFolder`).

    Raises:
        InputError: the folder is missing or holds no image files.
    """
    return ImageFolder(folder)


def natural_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders numbers by value: `f2.png` before `f10.png` (frames numbered without padding)."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", path.name) if part)


@contextmanager
def _atomic_hdf5(output: Path) -> Iterator[h5py.File]:
    """An HDF5 file opened for writing under a temporary name, renamed to `output` only when the block ends
    without an error: an interrupted build never leaves a partial file that looks finished.

    Raises:
        OutputError: the folder cannot be created or the file cannot be written.
    """
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        handle = h5py.File(tmp, "w")
    except OSError as exc:
        raise OutputError(output, f"cannot write the HDF5 file ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        with handle:
            yield handle
        os.replace(tmp, output)
    except OSError as exc:
        raise OutputError(output, f"cannot write the HDF5 file ({getattr(exc, 'strerror', None) or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)


def _check_size(command: str, height: int, width: int) -> None:
    if height < 8 or width < 8:
        raise ConfigError(f"{command}: --height and --width must be >= 8, got {height}x{width}")


def fit_image(
    image: np.ndarray, height: int, width: int, max_resize: int = 16, center_square: bool = False
) -> np.ndarray:
    """Crop and resize one image the way fns `make_style_dataset.py` does.

    Args:
        image: `(H, W, 3)` uint8 RGB.
        height: Output height.
        width: Output width.
        max_resize: Crop top-left so that H and W are multiples of this first.
        center_square: Crop the central square first (keeps the aspect; not in the reference).

    Returns:
        `(height, width, 3)` uint8 RGB.
    """
    if center_square:
        side = min(image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        image = image[top : top + side, left : left + side]
    crop_h = max(image.shape[0] // max_resize * max_resize, max_resize)
    crop_w = max(image.shape[1] // max_resize * max_resize, max_resize)
    image = image[:crop_h, :crop_w]
    shrink = crop_h > height or crop_w > width
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp)


def build_image_hdf5(
    train: Mapping[str, np.ndarray],
    val: Mapping[str, np.ndarray],
    output: str | Path,
    height: int = 256,
    width: int = 256,
    max_resize: int = 16,
    center_square: bool = False,
    seed: int = 0,
) -> Path:
    """Write an image HDF5 in the reference layout.

    Args:
        train: name -> RGB uint8 images for `train2014/images` (order shuffled with the seed).
        val: name -> RGB uint8 images for `val2014/images` (kept in the given order).
        output: HDF5 path (overwritten).
        height: Stored height.
        width: Stored width.
        max_resize: See :func:`fit_image`.
        center_square: See :func:`fit_image`.
        seed: Shuffle seed.

    Returns:
        The output path. The image names are stored in each group's `names` attribute (comma-separated).

    Raises:
        ConfigError: no training images, a size below 8 px or `max_resize` < 1.
        OutputError: the file cannot be written (an interrupted build leaves no file behind).
    """
    if not train:
        raise ConfigError("build-images: no training images")
    _check_size("build-images", height, width)
    if max_resize < 1:
        raise ConfigError(f"build-images: --max-resize must be >= 1, got {max_resize}")
    order = list(train)
    np.random.default_rng(seed).shuffle(order)
    output = Path(output)
    with _atomic_hdf5(output) as handle:
        for split, names, source in (("train2014", order, train), ("val2014", list(val), val)):
            images = handle.create_dataset(f"{split}/images", (len(names), 3, height, width), np.uint8)
            for index, name in enumerate(names):  # one image in memory at a time
                images[index] = fit_image(source[name], height, width, max_resize, center_square).transpose(2, 0, 1)
            handle[split].attrs["names"] = ",".join(names)
    LOG.info("wrote %s: %d train, %d val images at %dx%d", output, len(order), len(val), width, height)
    return output


def read_clip(path: str | Path, size_hw: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Read all frames of a video file (PyAV) or an image folder (natural order) as RGB uint8.

    Args:
        path: Video file or frame folder.
        size_hw: Resize every frame to (H, W) as it is decoded (area interpolation, as the video builder does),
            so that only the small frames are kept; None = full size.

    Raises:
        ConfigError: `size_hw` below 8 px.
        InputError: missing, unreadable or empty.
    """
    path = Path(path)
    if size_hw is not None:
        _check_size("build-video", *size_hw)

    def fit(frame: np.ndarray) -> np.ndarray:
        return frame if size_hw is None else _resized(frame, size_hw)

    if path.is_dir():
        return [fit(frame) for frame in read_image_folder(path).values()]
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(path, f"not a frame folder or a video ({', '.join(VIDEO_SUFFIXES)})")
    import av

    try:
        with av.open(str(path)) as container:
            frames = [fit(frame.to_ndarray(format="rgb24")) for frame in container.decode(video=0)]
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(path, f"cannot decode the video ({exc})") from None
    if not frames:
        raise InputError(path, "the video has no frames")
    return frames


def _resized(frame: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """`frame` at (H, W) with area interpolation (the frame itself when it already has that size)."""
    if frame.shape[:2] == tuple(size_hw):
        return frame
    return cv2.resize(frame, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_AREA)


def _sequences(
    clips: Iterable[list[np.ndarray]], height: int, width: int, length: int, stride: int
) -> tuple[list[list[np.ndarray]], list[tuple[int, int]]]:
    """The clips at (H, W) and their sequences as (clip index, first frame) every `stride` frames.

    Sequences are stacked only when written, so the frames are held once, not L times.
    """
    resized = [[_resized(frame, (height, width)) for frame in clip] for clip in clips]
    refs = [(c, start) for c, clip in enumerate(resized) for start in range(0, len(clip) - length + 1, stride)]
    return resized, refs


def _motion(sequence: np.ndarray, provider: FlowProvider) -> tuple[np.ndarray, np.ndarray]:
    """Backward flows and 0/255 certainties of one `(L, H, W, 3)` uint8 sequence."""
    from fav_core.occlusion import consistency_check  # only the video builder needs it

    rgb = sequence.astype(np.float32) / 255.0
    flows, certs = [], []
    for k in range(len(sequence) - 1):
        backward = provider.compute(rgb[k + 1], rgb[k])
        forward = provider.compute(rgb[k], rgb[k + 1])
        reliable = consistency_check(backward, forward)
        flows.append(backward.transpose(2, 0, 1))
        certs.append(np.where(reliable > 0.5, 255, 0).astype(np.uint8))
    return np.stack(flows).astype(np.float32), np.stack(certs)


def build_video_hdf5(
    train_clips: Sequence[list[np.ndarray]],
    val_clips: Sequence[list[np.ndarray]],
    output: str | Path,
    provider: FlowProvider,
    height: int = 256,
    width: int = 384,
    sequence_length: int = 2,
    stride: int = 1,
    seed: int = 0,
) -> Path:
    """Write a video HDF5 in the reference layout (§11.3).

    Args:
        train_clips: Clips (lists of RGB uint8 frames) for the `train` group.
        val_clips: Clips for the `val` group; empty = the train sequences in another shuffle (reference).
        output: HDF5 path (overwritten).
        provider: Optical-flow provider (`fav_core.flow.make_provider`).
        height: Frame height (frames are resized, aspect not kept).
        width: Frame width.
        sequence_length: L, frames per sequence (>= 2; K+1 for K-step training).
        stride: Start a sequence every `stride` frames.
        seed: Shuffle seed.

    Returns:
        The output path.

    Raises:
        ConfigError: bad sizes or no sequence long enough.
        OutputError: the file cannot be written (an interrupted build leaves no file behind).
    """
    _check_size("build-video", height, width)
    if sequence_length < 2 or stride < 1 or height % 4 or width % 4:
        raise ConfigError("build-video: need --sequence-length >= 2, --stride >= 1, H and W multiples of 4")
    rng = np.random.default_rng(seed)
    train = _sequences(train_clips, height, width, sequence_length, stride)
    if not train[1]:
        raise ConfigError(f"build-video: no clip has {sequence_length} frames")
    val = _sequences(val_clips, height, width, sequence_length, stride) if val_clips else train
    output = Path(output)
    with _atomic_hdf5(output) as handle:
        written: dict[int, int] = {}  # train sequence -> its row in train/*, reused when val is train
        for split, (clips, refs) in (("train", train), ("val", val)):
            order = rng.permutation(len(refs))
            count = len(refs)
            frames = handle.create_dataset(f"{split}/frames1", (count, sequence_length, 3, height, width), "u1")
            flow = handle.create_dataset(f"{split}/flow", (count, sequence_length - 1, 2, height, width), "f4")
            cert = handle.create_dataset(f"{split}/cert", (count, sequence_length - 1, height, width), "u1")
            for index, source in enumerate(order):
                if split == "val" and val is train:  # the reference's val = train reshuffled: copy, no new flow
                    row = written[int(source)]
                    frames[index], flow[index], cert[index] = (handle[f"train/{name}"][row]
                                                               for name in ("frames1", "flow", "cert"))
                    continue
                clip, start = refs[source]
                sequence = np.stack(clips[clip][start : start + sequence_length])
                flows, certs = _motion(sequence, provider)
                frames[index] = sequence.transpose(0, 3, 1, 2)
                flow[index] = flows
                cert[index] = certs
                written[int(source)] = index
            LOG.info("%s: %d sequences of %d frames", split, count, sequence_length)
    return output
