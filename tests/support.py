"""Test support shared by the suites: tiny random model files and generated PNG clips.

Import as ``tests.support`` (pytest's pythonpath holds the repo root). The session fixture ``tiny_models`` in
``tests/conftest.py`` is built on :func:`write_tiny_models`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

#: The tiny transformer architecture of the CLI, GUI and host tests (a few thousand weights).
TINY_ARCH = "c3s1-8,d8,R8,u8,c3s1-3"


def write_tiny_models(folder: Path, seed: int = 0) -> tuple[str, str]:
    """Write a tiny random video model (7 inputs) and image model (3 inputs) into ``folder``.

    ``torch.manual_seed(seed)`` is called first, then the video net is built, then the image net, so the
    weights are the same as every earlier per-file copy of this helper (and the video net alone is the same
    as a ``manual_seed(seed); build_transformer(TINY_ARCH, 7)``).

    Args:
        folder: Folder to write ``tiny-video.safetensors`` and ``tiny-image.safetensors`` into (created).
        seed: Torch seed of the random weights.

    Returns:
        (video model path, image model path) as strings.
    """
    import torch

    from fav_core.modelfile import ModelMeta, save_model
    from fav_core.nets import build_transformer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    video = save_model(folder / "tiny-video.safetensors", build_transformer(TINY_ARCH, 7),
                       ModelMeta(kind="video", arch=TINY_ARCH, in_channels=7, style_name="tiny"))
    image = save_model(folder / "tiny-image.safetensors", build_transformer(TINY_ARCH, 3),
                       ModelMeta(kind="image", arch=TINY_ARCH, in_channels=3, style_name="tiny"))
    return str(video), str(image)


def write_png(path: Path, rgb01: np.ndarray) -> None:
    """Write an (H, W, 3) float image in [0, 1] as an 8-bit RGB PNG (rounded, clipped to 0..255)."""
    import OpenImageIO as oiio

    data = np.clip(np.round(rgb01 * 255), 0, 255).astype(np.uint8)
    out = oiio.ImageOutput.create(str(path))
    assert out is not None, oiio.geterror()
    assert out.open(str(path), oiio.ImageSpec(data.shape[1], data.shape[0], 3, oiio.UINT8)), out.geterror()
    assert out.write_image(np.ascontiguousarray(data)), out.geterror()
    out.close()


def read_png_u8(path: Path) -> np.ndarray:
    """Read an image file as (H, W, C) uint8 pixels; fails the test when the file does not read."""
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(str(path))
    pixels = buf.get_pixels(oiio.UINT8)
    assert not buf.has_error and pixels is not None, f"{path}: {buf.geterror()}"
    return np.asarray(pixels)


def pan_texture(h: int, width: int, seed: int = 0) -> np.ndarray:
    """(h, width, 3) float32 smooth random texture in [0, 1]: uniform noise averaged with its right/down shifts."""
    rng = np.random.default_rng(seed)
    big = rng.random((h, width, 3)).astype(np.float32)
    return (big + np.roll(big, 1, 1) + np.roll(big, 1, 0)) / 3


def make_clip(folder: Path, n: int, h: int = 24, w: int = 32, seed: int = 0, step: float = 1.5,
              texture_width: int | None = None) -> str:
    """Write ``frame_0001.png`` .. ``frame_<n>.png``: a smooth texture panning right by ``step`` px per frame.

    Frame ``i`` (1-based) is ``pan_texture(h, texture_width, seed)[:, x0:x0 + w]`` with ``x0 = int(step * i)``.

    Args:
        folder: Output folder (created).
        n: Number of frames.
        h: Frame height.
        w: Frame width.
        seed: Seed of the texture.
        step: Pan in px per frame (whole pixels are taken: ``int(step * i)``).
        texture_width: Width of the texture the frames are cut from; default ``w + 4 * n``. The texture's
            random values depend on it, so suites that compare against earlier clips pass their own.

    Returns:
        The printf pattern ``<folder>/frame_%04d.png``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    big = pan_texture(h, w + 4 * n if texture_width is None else texture_width, seed)
    for i in range(1, n + 1):
        x0 = int(step * i)
        write_png(folder / f"frame_{i:04d}.png", big[:, x0:x0 + w])
    return str(folder / "frame_%04d.png")


SLOW_CORE = """import sys, time
from fav_core import stylizer
step = stylizer.Stylizer.stylize_next
def slow(self, *a, **k):
    time.sleep({delay})
    return step(self, *a, **k)
stylizer.Stylizer.stylize_next = slow
args = sys.argv[1:]
if args[:2] == ["-m", "fav_core.cli"]:
    args = args[2:]
from fav_core.cli.main import main
sys.exit(main(args))
"""


def slow_core_python(folder: Path, delay: float = 0.3) -> str:
    """An executable that stands in for the core's Python: ``<it> -m fav_core.cli stylize ...`` runs the real
    CLI with every recursive frame slowed by ``delay`` seconds, so cancel tests do not race a fast tiny model
    (the frame loop is pipelined: progress events trail the network)."""
    import stat
    import sys

    folder.mkdir(parents=True, exist_ok=True)
    code = folder / "slow_core.py"
    code.write_text(SLOW_CORE.format(delay=delay))
    exe = folder / "slow-python"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{code}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(exe)
