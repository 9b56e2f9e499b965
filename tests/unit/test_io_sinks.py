"""Image-sequence sinks: quantisation, alpha, EXR colour, atomic writes, path checks; make_sink choices."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

import fav_core.io.sinks as sinks_mod
from fav_core.errors import ConfigError, OutputError
from fav_core.io import (
    FrameSink,
    ImageSequenceSink,
    VideoSink,
    make_sink,
    open_frames,
    read_exr_channels,
    srgb_to_linear,
)
from fav_core.types import Frame

H, W = 16, 24


def frame(index: int = 1, alpha: bool = False) -> Frame:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    rgb = np.stack([x / (W - 1), y / (H - 1), np.full_like(x, 0.25)], -1)
    rgb[0, 0] = [1.5, -0.2, 0.5]  # out of range: clamped on integer output only
    a = np.tile(np.linspace(0, 1, W, dtype=np.float32), (H, 1)) if alpha else None
    return Frame(index=index, rgb=rgb, alpha=a)


def read_native(path: Path) -> np.ndarray:
    inp = oiio.ImageInput.open(str(path))
    spec = inp.spec()
    px = inp.read_image(0, 0, 0, spec.nchannels, spec.format)
    inp.close()
    return np.asarray(px).reshape(spec.height, spec.width, spec.nchannels)


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_png_8bit_quantises_and_clamps_without_touching_the_frame(tmp_path: Path) -> None:
    f = frame(3)
    before = f.rgb.copy()
    sink = ImageSequenceSink(tmp_path / "out" / "s_%04d.png")
    assert isinstance(sink, FrameSink)
    assert not sink.exists(3)
    sink.write(f)
    sink.close()
    np.testing.assert_array_equal(f.rgb, before)
    assert sink.exists(3) and not sink.exists(4)
    px = read_native(tmp_path / "out" / "s_0003.png")
    assert px.dtype == np.uint8 and px.shape == (H, W, 3)
    np.testing.assert_array_equal(px[0, 0], [255, 0, 128])
    np.testing.assert_array_equal(px[1:, 1:], np.rint(np.clip(before[1:, 1:], 0, 1) * 255).astype(np.uint8))
    with pytest.raises(OutputError, match="closed"):
        sink.write(f)


def test_png_16bit_rgba_round_trip(tmp_path: Path) -> None:
    f = frame(1, alpha=True)
    sink = ImageSequenceSink(tmp_path, "png", bits=16)
    sink.write(f)
    assert visible(tmp_path) == ["frame_00001.png"]
    px = read_native(tmp_path / "frame_00001.png")
    assert px.dtype == np.uint16 and px.shape == (H, W, 4)
    back = open_frames(tmp_path).read(1)
    assert back.alpha is not None
    np.testing.assert_allclose(back.alpha, f.alpha, atol=0.5 / 65535)
    # colour stays unpremultiplied even where alpha is 0 (column 0)
    np.testing.assert_allclose(back.rgb[1:], np.clip(f.rgb[1:], 0, 1), atol=0.5 / 65535)


def test_exr_from_srgb_source_is_premultiplied_values_as_given(tmp_path: Path) -> None:
    f = frame(2, alpha=True)
    ImageSequenceSink(tmp_path / "e_%02d.exr").write(f)
    ch = read_exr_channels(tmp_path / "e_02.exr")
    np.testing.assert_array_equal(ch["A"], f.alpha)
    np.testing.assert_allclose(ch["R"], f.rgb[..., 0] * f.alpha, rtol=1e-7)  # not clamped, not linearised
    assert ch["R"][0, 0] == 0.0  # alpha 0 at column 0
    lin = ImageSequenceSink(tmp_path / "l_%02d.exr", linear=True, half=True)
    g = frame(2)
    lin.write(g)
    ch = read_exr_channels(tmp_path / "l_02.exr")
    np.testing.assert_allclose(ch["G"], srgb_to_linear(g.rgb[..., 1]), rtol=1e-3, atol=1e-4)
    assert ch["R"][0, 0] > 2.0  # 1.5 sRGB-encoded is ~2.6 linear: highlights survive


def test_jpeg_and_tiff(tmp_path: Path) -> None:
    sink = ImageSequenceSink(tmp_path / "j_%d.jpg")
    sink.write(frame(1, alpha=True))  # alpha dropped with a warning
    assert read_native(tmp_path / "j_1.jpg").shape == (H, W, 3)
    ImageSequenceSink(tmp_path / "t_%d.tif", bits=16).write(frame(1))
    assert read_native(tmp_path / "t_1.tif").dtype == np.uint16
    with pytest.raises(ConfigError, match="16-bit"):
        ImageSequenceSink(tmp_path / "j_%d.jpg", bits=16)
    with pytest.raises(ConfigError, match="gif"):
        ImageSequenceSink(tmp_path / "g_%d.gif")


def test_path_escape_is_rejected(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    with pytest.raises(OutputError, match="leaves the output folder"):
        ImageSequenceSink("../evil_%04d.png", root=root)
    with pytest.raises(OutputError, match="leaves the output folder"):
        ImageSequenceSink("sub/../../evil_%04d.png", root=root)
    ok = ImageSequenceSink("sub/good_%04d.png", root=root)
    ok.write(frame(1))
    assert (root / "sub" / "good_0001.png").is_file()
    assert visible(tmp_path) == ["out"]


def test_unwritable_folder_is_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="file"):
        ImageSequenceSink(blocker / "f_%d.png")


def test_disk_full_removes_the_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    def full_disk(path: Path, final: Path, data: np.ndarray, bits: int, has_alpha: bool) -> None:
        path.write_bytes(b"partial png")
        seen.append(path)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    sink = ImageSequenceSink(tmp_path / "f_%03d.png")
    monkeypatch.setattr(sinks_mod, "_write_integer_image", full_disk)
    with pytest.raises(OutputError, match=r"f_007\.png: cannot write: disk full"):
        sink.write(frame(7))
    assert seen and seen[0].parent == tmp_path and seen[0].name.startswith(".")
    assert visible(tmp_path) == []  # neither a temp file nor a partial frame


def test_atomic_writes_survive_sigkill(tmp_path: Path) -> None:
    out = tmp_path / "k"
    script = (
        "import numpy as np, sys\n"
        "from fav_core.io import ImageSequenceSink\n"
        "from fav_core.types import Frame\n"
        "s = ImageSequenceSink(sys.argv[1] + '/f_%05d.png')\n"
        "rgb = np.random.default_rng(0).random((256, 256, 3), dtype=np.float32)\n"
        "print('ready', flush=True)\n"
        "for i in range(1, 100000):\n"
        "    s.write(Frame(index=i, rgb=rgb))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(out)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(list(out.glob("f_*.png"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    src = open_frames(out / "f_%05d.png")  # every visible frame is whole: all headers agree
    assert len(src) >= 3
    for i in src.indices:
        assert src.read(i).rgb.shape == (256, 256, 3)


class _Like:
    """A minimal FrameSource stand-in for make_sink."""

    def __init__(self, linear: bool = False, pixel_format: str = "uint8", n: int = 3) -> None:
        self.path, self.indices, self.linear, self.pixel_format = (
            "src",
            list(range(1, n + 1)),
            linear,
            pixel_format,
        )
        self.fps, self.rate = None, None

    def __len__(self) -> int:
        return len(self.indices)


def test_make_sink_choices(tmp_path: Path) -> None:
    png = make_sink(tmp_path / "a", like=_Like())  # type: ignore[arg-type]
    assert isinstance(png, ImageSequenceSink) and png.ext == "png" and png.bits == 8 and not png.half
    assert png.pattern.endswith("frame_%05d.png")
    exr = make_sink(tmp_path / "b", like=_Like(linear=True, pixel_format="half"))  # type: ignore[arg-type]
    assert isinstance(exr, ImageSequenceSink) and exr.ext == "exr" and exr.linear
    p16 = make_sink(tmp_path / "c_####.png", like=_Like(pixel_format="uint16"))  # type: ignore[arg-type]
    assert isinstance(p16, ImageSequenceSink) and p16.bits == 16 and p16.pattern.endswith("c_####.png")
    vid = make_sink(tmp_path / "v.mov", like=_Like())  # type: ignore[arg-type]
    assert isinstance(vid, VideoSink) and float(vid.rate) == 24.0 and vid.audio_from is None
    single = make_sink(tmp_path / "one.png", like=_Like(n=1))  # type: ignore[arg-type]
    single.write(frame(1))
    assert (tmp_path / "one.png").is_file()
    with pytest.raises(ConfigError, match="placeholder"):
        make_sink(tmp_path / "one.png", like=_Like(n=3))  # type: ignore[arg-type]
