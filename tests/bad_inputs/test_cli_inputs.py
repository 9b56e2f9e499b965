"""``fav stylize`` on bad (and unusual but valid) input frames: one-line errors, exit 2, nothing damaged."""
from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

import fav_core.budget
from fav_core.io import write_exr

from .conftest import assert_one_line_error, make_clip, plant, snapshot, stylize_args, write_image

Fav = Callable[..., tuple[int, str]]


def png_bytes(width: int, height: int, rows: int = 1) -> bytes:
    """A PNG whose header claims width x height (8-bit RGB) but holds only ``rows`` rows of data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + bytes(3 * width) for _ in range(rows)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("frame_0000*.png")) if folder.exists() else []


# ------------------------------------------------------------------------------------- must fail, cleanly


def test_missing_input_folder(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    out = tmp_path / "out"
    before = plant(out)
    rc, err = fav(*stylize_args(str(tmp_path / "nowhere" / "f_%04d.png"), str(out), models))
    assert_one_line_error(rc, err, "nowhere", "does not exist")
    assert snapshot(out) == before


def test_input_without_placeholder(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    make_clip(tmp_path / "in")
    rc, err = fav(*stylize_args(str(tmp_path / "in" / "frame.png"), str(tmp_path / "out"), models))
    assert_one_line_error(rc, err, "frame.png", "placeholder")


def test_unreadable_first_frame(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in")
    (tmp_path / "in" / "frame_0001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 10)
    out = tmp_path / "out"
    before = plant(out)
    rc, err = fav(*stylize_args(inp, str(out), models))
    assert_one_line_error(rc, err, "frame_0001.png")
    assert snapshot(out) == before


def test_corrupt_frame_in_the_middle_is_found_before_work(tmp_path: Path, models: tuple[str, str],
                                                        fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=4)
    (tmp_path / "in" / "frame_0003.png").write_bytes(b"garbage, not an image")
    out = tmp_path / "out"
    rc, err = fav(*stylize_args(inp, str(out), models))
    assert_one_line_error(rc, err, "frame_0003.png")
    assert outputs(out) == []  # headers are checked before the first frame is stylized


def test_frames_of_different_sizes(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=3)
    write_image(tmp_path / "in" / "frame_0002.png", np.zeros((16, 20, 3), np.uint8))
    out = tmp_path / "out"
    rc, err = fav(*stylize_args(inp, str(out), models))
    assert_one_line_error(rc, err, "frame_0002.png", "20x16", "24x16")
    assert outputs(out) == []


def test_gap_in_numbered_sequence(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=4)
    (tmp_path / "in" / "frame_0003.png").unlink()
    rc, err = fav(*stylize_args(inp, str(tmp_path / "out"), models))
    assert_one_line_error(rc, err, "frame_0003.png", "missing frame 3")


def test_zero_length_video(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    video = tmp_path / "empty.mp4"
    video.write_bytes(b"")
    rc, err = fav(*stylize_args(str(video), str(tmp_path / "out"), models))
    assert_one_line_error(rc, err, "empty.mp4")


def test_undecodable_video(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    video = tmp_path / "broken.mov"
    video.write_bytes(b"\x00\x00\x00\x18ftypqt  " + bytes(range(256)) * 8)
    out = tmp_path / "out"
    before = plant(out)
    rc, err = fav(*stylize_args(str(video), str(out), models))
    assert_one_line_error(rc, err, "broken.mov")
    assert snapshot(out) == before


def test_exr_with_nan_in_first_frame(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=2, ext="exr")
    rgb = np.full((16, 24, 3), 0.5, np.float32)
    rgb[3, 4, 1] = np.nan
    write_exr(tmp_path / "in" / "frame_0001.exr", rgb)
    out = tmp_path / "out"
    rc, err = fav(*stylize_args(inp, str(out), models))
    assert_one_line_error(rc, err, "frame_0001.exr", "NaN or Inf")
    assert not out.exists() or not list(out.glob("frame_*"))


def test_exr_with_inf_later_keeps_earlier_frames_whole(tmp_path: Path, models: tuple[str, str],
                                                       fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=3, ext="exr")
    rgb = np.full((16, 24, 3), 0.5, np.float32)
    rgb[0, 0, 0] = np.inf
    write_exr(tmp_path / "in" / "frame_0003.exr", rgb)
    out = tmp_path / "out"
    before = plant(out)
    rc, err = fav(*stylize_args(inp, str(out), models))
    assert_one_line_error(rc, err, "frame_0003.exr", "NaN or Inf")
    after = snapshot(out)
    assert {k: after[k] for k in before} == before
    written = sorted(out.glob("frame_0000*.exr"))
    assert [p.name for p in written] == ["frame_00001.exr", "frame_00002.exr"]
    for p in written:  # whole files that decode
        assert oiio.ImageBuf(str(p)).get_pixels(oiio.FLOAT).shape == (16, 24, 3)
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_exr_without_colour_channels(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in (1, 2):
        spec = oiio.ImageSpec(24, 16, 2, oiio.FLOAT)
        spec.channelnames = ("depth.Z", "mask.A")
        out = oiio.ImageOutput.create(str(folder / f"f_{i}.exr"))
        out.open(str(folder / f"f_{i}.exr"), spec)
        out.write_image(np.zeros((16, 24, 2), np.float32))
        out.close()
    rc, err = fav(*stylize_args(str(folder / "f_%d.exr"), str(tmp_path / "out"), models))
    assert_one_line_error(rc, err, "f_1.exr", "no R,G,B")


def test_huge_header_is_refused_before_decoding(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "frame_0001.png").write_bytes(png_bytes(32000, 32000))
    monkeypatch.setattr(fav_core.budget, "available_bytes", lambda: 2 * fav_core.budget.GIB)
    decoded: list[str] = []
    import fav_core.io.imagefile as imagefile

    real = imagefile.read_image_frame
    monkeypatch.setattr(imagefile, "read_image_frame", lambda *a, **k: decoded.append("!") or real(*a, **k))
    rc, err = fav(*stylize_args(str(folder / "frame_%04d.png"), str(tmp_path / "out"), models))
    assert_one_line_error(rc, err, "frame_0001.png", "32000x32000", "GiB")
    assert decoded == []


def test_frames_too_large_for_the_net_are_refused_before_work(tmp_path: Path, models: tuple[str, str],
                                                               fav: Fav, monkeypatch: pytest.MonkeyPatch) -> None:
    inp = make_clip(tmp_path / "in", n=2, h=64, w=64)
    # decoding one 64x64 frame fits in 1 MiB, the net's activations (7 + 2*8 channels) and the loop do not
    monkeypatch.setattr(fav_core.budget, "available_bytes", lambda: 1024 * 1024)
    out = tmp_path / "out"
    before = plant(out)
    rc, err = fav(*stylize_args(inp, str(out), models, "--device", "cpu"))
    assert_one_line_error(rc, err, "frame_%04d.png", "64x64", "GiB")
    assert snapshot(out) == before


# --------------------------------------------------------------------------------------- must work


@pytest.mark.parametrize(
    ("label", "kw"),
    [
        ("greyscale", {"channels": 1}),
        ("greyscale+alpha", {"channels": 2}),
        ("rgba", {"channels": 4}),
        ("16-bit", {"bits": 16}),
        ("not-multiple-of-4", {"h": 13, "w": 17}),
        ("1x1", {"h": 1, "w": 1}),
        ("1x7", {"h": 1, "w": 7}),
    ],
)
def test_unusual_frames_work(tmp_path: Path, models: tuple[str, str], fav: Fav, label: str,
                             kw: dict[str, int]) -> None:
    h, w = kw.get("h", 16), kw.get("w", 24)
    inp = make_clip(tmp_path / "in", n=3, **kw)
    out = tmp_path / "out"
    rc, err = fav(*stylize_args(inp, str(out), models))
    assert rc == 0, err
    files = sorted(out.glob("frame_*.png"))
    assert [p.name for p in files] == ["frame_00001.png", "frame_00002.png", "frame_00003.png"]
    buf = oiio.ImageBuf(str(files[-1]))
    spec = buf.spec()
    assert (spec.height, spec.width) == (h, w)
    channels_out = 4 if kw.get("channels") in (2, 4) else 3  # alpha is carried through
    assert spec.nchannels == channels_out
    want = oiio.UINT16 if kw.get("bits") == 16 else oiio.UINT8
    assert spec.format == oiio.TypeDesc(want)
    assert np.isfinite(buf.get_pixels(oiio.FLOAT)).all()


def test_16k_wide_frames_work(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=2, h=2, w=16384)
    out = tmp_path / "out"
    rc, err = fav(*stylize_args(inp, str(out), models, "--median-filter", "1"))
    assert rc == 0, err
    spec = oiio.ImageBuf(str(out / "frame_00002.png")).spec()
    assert (spec.width, spec.height) == (16384, 2)


@pytest.mark.parametrize(("h", "w", "extra"), [(13, 17, ()), (1, 1, ()), (1, 1, ("--backward",))])
def test_odd_and_tiny_frames_into_a_video(tmp_path: Path, models: tuple[str, str], fav: Fav, h: int, w: int,
                                          extra: tuple[str, ...]) -> None:
    import av

    inp = make_clip(tmp_path / "in", n=3, h=h, w=w)
    video = tmp_path / "out.mp4"
    rc, err = fav(*stylize_args(inp, str(video), models, *extra))
    assert rc == 0, err
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files or folders left


def test_video_too_large_to_decode_is_refused_before_decoding(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    inp = make_clip(tmp_path / "in", n=2, h=64, w=96)
    video = tmp_path / "clip.mp4"
    rc, err = fav(*stylize_args(inp, str(video), models, "--per-frame"))
    assert rc == 0, err
    import fav_core.io.video as video_mod

    decoded: list[int] = []
    real = video_mod.VideoSource.read
    monkeypatch.setattr(video_mod.VideoSource, "read", lambda self, i: decoded.append(i) or real(self, i))
    monkeypatch.setattr(fav_core.budget, "available_bytes", lambda: 64 * 96 * 4)  # not even one float frame
    rc, err = fav(*stylize_args(str(video), str(tmp_path / "out"), models))
    assert_one_line_error(rc, err, "clip.mp4", "96x64")
    assert decoded == []
