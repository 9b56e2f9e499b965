"""Optical-flow back-ends behind one protocol: OpenCV DIS, OpenCV DeepFlow, torchvision RAFT (local weights).

Every provider returns flow in our convention: ``compute(src, dst)`` gives, for every pixel of ``src``, the
displacement to where it is in ``dst``. The backward flow of frame t is therefore ``compute(frame_t, frame_t-1)``.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from fav_core.errors import ConfigError, InputError, ModelLoadError, ShapeError, check_shape

logger = logging.getLogger(__name__)


@runtime_checkable
class FlowProvider(Protocol):
    """Something that computes dense optical flow between two frames.

    Attributes:
        name: short name used in logs and ``Motion.source`` (e.g. ``"dis-medium"``).
    """

    name: str

    def compute(self, src_rgb: np.ndarray, dst_rgb: np.ndarray) -> np.ndarray:
        """Flow from ``src`` to ``dst``.

        Args:
            src_rgb: :math:`(H, W, 3)` float32, sRGB-encoded, nominally [0, 1].
            dst_rgb: :math:`(H, W, 3)` float32, same size.

        Returns:
            :math:`(H, W, 2)` float32 flow (dx, dy) in pixels: pixel (x, y) of src is at (x+dx, y+dy) in dst.
        """
        ...


def _check_pair(src_rgb: np.ndarray, dst_rgb: np.ndarray) -> tuple[int, int]:
    sizes = check_shape(src_rgb, "H W 3", "src_rgb")
    dst_sizes = check_shape(dst_rgb, "H W 3", "dst_rgb")
    if dst_sizes != sizes:
        raise ShapeError(
            f"dst_rgb: expected the size of src_rgb {tuple(src_rgb.shape)}, got {tuple(dst_rgb.shape)}"
        )
    return sizes["H"], sizes["W"]


def to_grey_u8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float sRGB-encoded [0, 1] -> (H, W) uint8 luma (OpenCV's RGB2GRAY weights)."""
    rgb8 = np.clip(np.rint(np.asarray(rgb, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    return cv2.cvtColor(rgb8, cv2.COLOR_RGB2GRAY)


_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


DIS_MIN_SIDE = 32
"""Shortest side given to OpenCV's DIS (it fails below 12 px, and for strips thinner than about 32 px)."""


def dis_min_side(height: int, width: int) -> int:
    """Shortest side DIS handles for a frame whose long side is ``max(height, width)``, for every preset.

    Checked against OpenCV 4.11 for long sides up to 32768: ``max(32, ceil(long / 512))``.
    """
    return max(DIS_MIN_SIDE, -(-max(height, width) // 512))


class DISFlow:
    """OpenCV Dense Inverse Search flow (CPU, fast, always available).

    Args:
        preset: ``"medium"`` (sub-pixel accurate, default), ``"fast"`` or ``"ultrafast"`` (previews).

    Note:
        One instance holds one OpenCV object; do not share an instance between threads.
    """

    def __init__(self, preset: str = "medium") -> None:
        if preset not in _DIS_PRESETS:
            raise ConfigError(f"DIS preset {preset!r} is not one of {', '.join(_DIS_PRESETS)}")
        self.preset = preset
        self.name = f"dis-{preset}"
        self._dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])

    def compute(self, src_rgb: np.ndarray, dst_rgb: np.ndarray) -> np.ndarray:
        """Flow from ``src`` to ``dst``, (H, W, 2) float32 (see :class:`FlowProvider`).

        OpenCV's DIS refuses images smaller than its patch grid (about 12 px) and fails in its pyramid for
        thin strips (e.g. 16x1024 with the ultrafast preset); a side shorter than :func:`dis_min_side` is
        edge-replicated right/bottom and the flow is cropped back. Normal frames are not touched.
        """
        height, width = _check_pair(src_rgb, dst_rgb)
        src, dst = to_grey_u8(src_rgb), to_grey_u8(dst_rgb)
        side = dis_min_side(height, width)
        pad_h, pad_w = max(0, side - height), max(0, side - width)
        if pad_h or pad_w:
            src = cv2.copyMakeBorder(src, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
            dst = cv2.copyMakeBorder(dst, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
        flow = self._dis.calc(src, dst, None)[:height, :width]
        return np.ascontiguousarray(flow, dtype=np.float32)


class DeepFlow:
    """OpenCV-contrib DeepFlow (variational part only, without DeepMatching; slow CPU, close to the reference).

    The reference pipeline runs DeepMatching + DeepFlow2 binaries (algorithm.md §8.3); OpenCV's DeepFlow is the
    same variational refinement started from zero instead of from matches, so large motions are weaker.
    """

    def __init__(self) -> None:
        optflow = getattr(cv2, "optflow", None)
        if optflow is None:
            raise ConfigError("DeepFlow needs opencv-contrib-python-headless (cv2.optflow is missing)")
        self.name = "deepflow"
        self._flow = optflow.createOptFlow_DeepFlow()

    def compute(self, src_rgb: np.ndarray, dst_rgb: np.ndarray) -> np.ndarray:
        """Flow from ``src`` to ``dst``, (H, W, 2) float32 (see :class:`FlowProvider`)."""
        _check_pair(src_rgb, dst_rgb)
        flow = self._flow.calc(to_grey_u8(src_rgb), to_grey_u8(dst_rgb), None)
        return np.ascontiguousarray(flow, dtype=np.float32)


_RAFT_MIN_SIDE = 128  # torchvision RAFT gives NaNs below 128 px (pytorch/vision#7338)


#: Weight files RAFT reads: safetensors, and torch.save files through the pure reader (never unpickled).
_RAFT_SUFFIXES = (".safetensors", ".pth", ".pt")
_RAFT_CONVERT_HINT = (
    "only if you trust its origin, convert it once with "
    "safetensors.torch.save_file(torch.load(path, weights_only=True), 'raft.safetensors')"
)


def _load_state_dict(path: Path) -> dict[str, Any]:
    """Tensors of a local RAFT weights file: safetensors, or a torch ``.pth``/``.pt`` read without unpickling.

    Raises:
        ModelLoadError: an unreadable file; for a torch file the message ends with the trusted conversion route.
    """
    if path.suffix.lower() != ".safetensors":
        from fav_core.pth_reader import read_pth

        try:
            return read_pth(path)
        except ModelLoadError as exc:
            if "weights_only=True" in exc.problem:  # the reader already gave the conversion route
                raise
            raise ModelLoadError(path, f"{exc.problem}; {_RAFT_CONVERT_HINT}") from exc
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelLoadError(path, f"not a readable safetensors file ({exc})") from exc


class RAFTFlow:
    """torchvision RAFT (GPU recommended) with weights from a local file; never downloads.

    Args:
        weights_path: state dict for ``raft_large`` (or ``raft_small``): ``.safetensors``, or a torch ``.pth``/``.pt``
            such as torchvision's ``raft_large_C_T_SKHT_V2-ff5fadd5.pth``, read by
            :func:`fav_core.pth_reader.read_pth` (never unpickled; anything but plain tensors is refused).
        small: use the ``raft_small`` architecture.
        iters: number of recurrent flow updates (12 = torchvision default).
        device: torch device; default CUDA when available, else CPU.

    Raises:
        ConfigError: torchvision is not installed (it is an optional extra), or bad options.
        InputError: the weights file does not exist.
        ModelLoadError: another suffix, an unreadable or unsafe file, or weights that do not fit the architecture.
    """

    def __init__(
        self, weights_path: str | Path, small: bool = False, iters: int = 12, device: str | None = None
    ) -> None:
        if iters < 1:
            raise ConfigError(f"RAFT iters must be >= 1, got {iters}")
        if weights_path is None or str(weights_path) == "":
            raise ConfigError("RAFT flow needs a local weights file (weights are never downloaded)")
        path = Path(weights_path)
        if path.suffix.lower() not in _RAFT_SUFFIXES:
            raise ModelLoadError(path, f"RAFT weights must be one of {', '.join(_RAFT_SUFFIXES)}; {_RAFT_CONVERT_HINT}")
        state = _load_state_dict(path) if path.is_file() else None  # read (and refused) even without torchvision
        try:
            from torchvision.models.optical_flow import raft_large, raft_small
        except ImportError as exc:
            raise ConfigError(
                "RAFT flow needs torchvision: pip install 'fast-artistic-videos[raft]' "
                "(or pick flow 'dis' / 'deepflow')"
            ) from exc
        import torch

        if state is None:
            raise InputError(path, "RAFT weights file not found (weights are never downloaded)")

        net = (raft_small if small else raft_large)(weights=None, progress=False)
        try:
            net.load_state_dict(state, strict=True)
        except (RuntimeError, ValueError, OSError, KeyError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(
                path, f"not a {'raft_small' if small else 'raft_large'} state dict ({first_line})"
            ) from exc
        self.device = torch.device(
            device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
        )
        self._net = net.eval().to(self.device)
        self.iters = int(iters)
        self.name = "raft-small" if small else "raft"

    def compute(self, src_rgb: np.ndarray, dst_rgb: np.ndarray) -> np.ndarray:
        """Flow from ``src`` to ``dst``, (H, W, 2) float32 (see :class:`FlowProvider`).

        Inputs are scaled to [-1, 1] (torchvision's OpticalFlow preset) and replicate-padded right/bottom to a
        multiple of 8 and at least 128 px; the flow is cropped back.
        """
        import torch
        import torch.nn.functional as F

        height, width = _check_pair(src_rgb, dst_rgb)
        pad_h = max(_RAFT_MIN_SIDE, -(-height // 8) * 8) - height
        pad_w = max(_RAFT_MIN_SIDE, -(-width // 8) * 8) - width

        def prep(rgb: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
            t = t.to(self.device) * 2.0 - 1.0
            return F.pad(t, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else t

        with torch.inference_mode():
            flows = self._net(prep(src_rgb), prep(dst_rgb), num_flow_updates=self.iters)
        flow = flows[-1][0, :, :height, :width].permute(1, 2, 0)
        return np.ascontiguousarray(flow.float().cpu().numpy(), dtype=np.float32)


_FACTORIES: dict[str, type] = {"dis": DISFlow, "deepflow": DeepFlow, "raft": RAFTFlow}
PROVIDERS: tuple[str, ...] = tuple(_FACTORIES)
"""Names accepted by :func:`make_provider`."""


def make_provider(name: str, **opts: Any) -> FlowProvider:
    """Build a flow provider by name.

    Args:
        name: one of :data:`PROVIDERS` (``"dis"``, ``"deepflow"``, ``"raft"``).
        **opts: constructor options (``preset`` for dis; ``weights_path``, ``small``, ``iters``, ``device`` for
            raft).

    Raises:
        ConfigError: unknown name or options the provider does not take.

    Example:
        >>> make_provider("dis", preset="fast").name
        'dis-fast'
    """
    cls = _FACTORIES.get(name)
    if cls is None:
        raise ConfigError(f"unknown flow provider {name!r}; choose one of {', '.join(PROVIDERS)}")
    try:
        inspect.signature(cls).bind(**opts)
    except TypeError as exc:
        raise ConfigError(f"flow provider {name!r}: {exc}") from exc
    provider: FlowProvider = cls(**opts)
    return provider
