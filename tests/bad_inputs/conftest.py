"""Shared helpers of the bad-input suite: tiny clips and models, running ``fav`` and checking its errors."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from fav_core.cli.main import main
from tests.support import TINY_ARCH as ARCH  # noqa: F401 (imported by the test files)
from tests.support import pan_texture

ROOT = Path(__file__).resolve().parents[2]


def write_image(path: Path, data: np.ndarray) -> Path:
    """Write (H, W) or (H, W, C) uint8/uint16/float32 pixels with OpenImageIO (format by extension)."""
    if data.ndim == 2:
        data = data[..., None]
    fmt = {np.dtype(np.uint8): oiio.UINT8, np.dtype(np.uint16): oiio.UINT16,
           np.dtype(np.float32): oiio.FLOAT}[data.dtype]
    out = oiio.ImageOutput.create(str(path))
    assert out is not None, oiio.geterror()
    assert out.open(str(path), oiio.ImageSpec(data.shape[1], data.shape[0], data.shape[2], fmt))
    assert out.write_image(np.ascontiguousarray(data)), out.geterror()
    out.close()
    return path


def make_clip(folder: Path, n: int = 3, h: int = 16, w: int = 24, *, channels: int = 3, bits: int = 8,
              ext: str = "png") -> str:
    """Frames ``frame_0001.<ext>`` .. of a texture panning right 1 px per frame; returns the printf pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    big = pan_texture(h, w + n + 1)
    for i in range(1, n + 1):
        rgb = big[:, i:i + w]
        if channels == 1:
            px = rgb.mean(axis=2, keepdims=True)
        elif channels == 2:
            px = np.concatenate([rgb.mean(axis=2, keepdims=True), np.full((h, w, 1), 0.75, np.float32)], 2)
        elif channels == 4:
            px = np.concatenate([rgb, np.full((h, w, 1), 0.75, np.float32)], 2)
        else:
            px = rgb
        if ext == "exr":
            data = px.astype(np.float32)
        else:
            top = 255 if bits == 8 else 65535
            data = np.round(px * top).astype(np.uint8 if bits == 8 else np.uint16)
        write_image(folder / f"frame_{i:04d}.{ext}", data)
    return str(folder / f"frame_%04d.{ext}")


@pytest.fixture(scope="session")
def models(tiny_models: tuple[str, str]) -> tuple[str, str]:
    """Tiny random (video, image) model files (the session's ``tiny_models``, tests/conftest.py)."""
    return tiny_models


def stylize_args(inp: str, out: str, models: tuple[str, str], *extra: str) -> list[str]:
    return ["stylize", inp, "-o", out, "--model", models[0], "--image-model", models[1],
            "--flow-preset", "ultrafast", "--progress", "none", *extra]


@pytest.fixture
def fav(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    """Run ``fav`` in-process; returns (exit code, stderr)."""
    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        rc = main(list(args))
        return rc, capsys.readouterr().err
    return run


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m fav_core.cli`` in a child process."""
    return subprocess.run([sys.executable, "-m", "fav_core.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def assert_one_line_error(rc: int, stderr: str, *needles: str) -> str:
    """Exit code 2 and exactly one non-empty stderr line ``fav: error: ...`` containing every needle."""
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("fav: WARNING")]
    assert rc == 2, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("fav: error: "), stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in stderr
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes); {} when it does not exist."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def plant(out: Path) -> dict[str, bytes]:
    """Put files an earlier job left in ``out`` (a frame number the run does not write, and a note)."""
    out.mkdir(parents=True, exist_ok=True)
    write_image(out / "frame_00099.png", np.full((4, 4, 3), 7, np.uint8))
    (out / "notes.txt").write_text("written before the failing run\n")
    return snapshot(out)
