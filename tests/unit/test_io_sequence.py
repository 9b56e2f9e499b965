"""Opening image sequences: patterns, folders, validation, colour and alpha (fav_core.io.sequence)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from fav_core.errors import ConfigError, InputError
from fav_core.io import ImageSequenceSink, open_frames, read_exr_channels
from fav_core.io.color import linear_to_srgb, premultiply, srgb_to_linear

H, W = 16, 24


def write_image(
    path: Path, data: np.ndarray, *, names: list[str] | None = None, unassociated: bool = True
) -> None:
    """Write (H, W, C) uint8/uint16/float32 pixels with OIIO exactly as given."""
    fmt = {np.dtype(np.uint8): oiio.UINT8, np.dtype(np.uint16): oiio.UINT16, np.dtype(np.float32): oiio.FLOAT}
    h, w, c = data.shape
    spec = oiio.ImageSpec(w, h, c, fmt[data.dtype])
    if names:
        spec.channelnames = tuple(names)
    if c in (2, 4) and unassociated:
        spec.attribute("oiio:UnassociatedAlpha", 1)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(data))
    out.close()


def ramp8(k: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([(x * 10 + k) % 256, (y * 15) % 256, np.full_like(x, 40 * k)], -1).astype(np.uint8)


def make_pngs(folder: Path, frames: range, name: str = "frame_{:05d}.png") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k in frames:
        write_image(folder / name.format(k), ramp8(k))


def test_printf_pattern_reads_exact_8bit_values(tmp_path: Path) -> None:
    make_pngs(tmp_path, range(1, 5))
    src = open_frames(tmp_path / "frame_%05d.png")
    assert src.indices == [1, 2, 3, 4] and len(src) == 4
    assert src.size == (H, W) and src.fps is None and not src.linear and src.pixel_format == "uint8"
    f = src.read(3)
    assert f.index == 3 and f.rgb.dtype == np.float32 and f.rgb.shape == (H, W, 3) and f.alpha is None
    np.testing.assert_array_equal(f.rgb, ramp8(3).astype(np.float32) / 255.0)
    assert f.source.endswith("frame_00003.png")
    assert [fr.index for fr in src] == [1, 2, 3, 4]
    assert "frames 1-4" in src.describe()


def test_hash_pattern_folder_and_start(tmp_path: Path) -> None:
    make_pngs(tmp_path, range(7, 11), "shot_{:04d}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".shot_0011.tmp-x.png").write_bytes(b"partial")  # hidden temp files are ignored
    assert open_frames(str(tmp_path / "shot_####.png")).indices == [7, 8, 9, 10]
    assert open_frames(tmp_path).indices == [7, 8, 9, 10]
    src = open_frames(tmp_path, start=9)
    assert src.indices == [9, 10]
    np.testing.assert_array_equal(src.read(9).rgb, ramp8(9) / np.float32(255.0))
    with pytest.raises(InputError, match="shot_0012.png"):
        open_frames(tmp_path / "shot_####.png", start=12)


def test_padding_must_match_pattern(tmp_path: Path) -> None:
    make_pngs(tmp_path, range(1, 3), "f{:d}.png")
    with pytest.raises(InputError, match="no files match"):
        open_frames(tmp_path / "f%03d.png")
    assert open_frames(tmp_path / "f%d.png").indices == [1, 2]


def test_gap_names_the_missing_file(tmp_path: Path) -> None:
    make_pngs(tmp_path, range(1, 6))
    (tmp_path / "frame_00003.png").unlink()
    with pytest.raises(InputError, match=r"frame_00003\.png: missing frame 3"):
        open_frames(tmp_path / "frame_%05d.png")
    with pytest.raises(InputError, match=r"frame_00003\.png"):
        open_frames(tmp_path)


def test_size_mismatch_names_first_bad_file(tmp_path: Path) -> None:
    make_pngs(tmp_path, range(1, 5))
    write_image(tmp_path / "frame_00003.png", np.zeros((H, W + 2, 3), np.uint8))
    write_image(tmp_path / "frame_00004.png", np.zeros((H + 2, W, 3), np.uint8))
    with pytest.raises(InputError, match=r"frame_00003\.png: is 26x16 but frame_00001\.png is 24x16"):
        open_frames(tmp_path / "frame_%05d.png")


def test_missing_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        open_frames(tmp_path / "clip.png")
    with pytest.raises(InputError, match="no files match"):
        open_frames(tmp_path / "frame_%05d.png")
    with pytest.raises(InputError, match="does not exist"):
        open_frames(tmp_path / "nowhere" / "frame_%05d.png")
    with pytest.raises(InputError, match="no images"):
        open_frames(tmp_path)
    with pytest.raises(ConfigError):
        open_frames(tmp_path / "a_%d_%d.png")
    with pytest.raises(ConfigError, match="colorspace"):
        open_frames(tmp_path, colorspace="rec709")


def test_folder_with_two_types_or_two_sequences(tmp_path: Path) -> None:
    make_pngs(tmp_path / "a", range(1, 3))
    write_image(tmp_path / "a" / "frame_00003.tif", ramp8(3))
    with pytest.raises(InputError, match="mixes image types"):
        open_frames(tmp_path / "a")
    make_pngs(tmp_path / "b", range(1, 3))
    make_pngs(tmp_path / "b", range(1, 3), "other_{:02d}.png")
    with pytest.raises(InputError, match="more than one sequence"):
        open_frames(tmp_path / "b")


def test_sixteen_bit_greyscale_png(tmp_path: Path) -> None:
    grey = (np.arange(H * W, dtype=np.uint16).reshape(H, W, 1) * 173) % 65535
    for k in (1, 2):
        write_image(tmp_path / f"g_{k:03d}.png", grey.astype(np.uint16))
    src = open_frames(tmp_path / "g_%03d.png")
    assert src.pixel_format == "uint16"
    f = src.read(1)
    assert f.rgb.shape == (H, W, 3)
    want = grey[..., 0].astype(np.float32) / 65535.0
    for c in range(3):
        np.testing.assert_allclose(f.rgb[..., c], want, rtol=0, atol=1e-7)


def test_grey_alpha_and_rgba_png_keep_alpha_unpremultiplied(tmp_path: Path) -> None:
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = 200, 100, 50
    rgba[..., 3] = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1))
    write_image(tmp_path / "rgba.png", rgba)
    f = open_frames(tmp_path / "rgba.png").read(1)
    assert f.alpha is not None
    np.testing.assert_array_equal(f.alpha, rgba[..., 3] / np.float32(255.0))
    np.testing.assert_array_equal(
        f.rgb[..., 0], np.full((H, W), np.float32(200) / np.float32(255.0))
    )  # colour as stored
    ga = np.stack([np.full((H, W), 77, np.uint8), rgba[..., 3]], -1)
    write_image(tmp_path / "ga.png", ga)
    g = open_frames(tmp_path / "ga.png", start=5).read(5)
    assert g.index == 5 and g.alpha is not None
    np.testing.assert_array_equal(g.rgb, np.full((H, W, 3), np.float32(77) / np.float32(255.0)))


def test_associated_alpha_tiff_is_unpremultiplied(tmp_path: Path) -> None:
    rgba = np.zeros((H, W, 4), np.float32)
    rgba[..., :3] = 0.25
    rgba[..., 3] = 0.5
    write_image(tmp_path / "pre.tif", rgba, unassociated=False)  # float TIFF, associated alpha
    f = open_frames(tmp_path / "pre.tif", colorspace="srgb").read(1)
    np.testing.assert_allclose(f.rgb, 0.5, atol=1e-7)


def exr_frame(path: Path, lin: np.ndarray, alpha: np.ndarray, vector: np.ndarray | None = None) -> None:
    """Blender-like multi-part EXR: premultiplied linear Combined (+ Vector part)."""
    from tests.unit.test_io_exr import write_multipart

    combined = np.concatenate([premultiply(lin, alpha), alpha[..., None]], -1)
    parts = [("ViewLayer.Combined", [f"ViewLayer.Combined.{c}" for c in "RGBA"], combined, oiio.FLOAT)]
    if vector is not None:
        parts.append(("ViewLayer.Vector", [f"ViewLayer.Vector.{c}" for c in "XYZW"], vector, oiio.FLOAT))
    write_multipart(path, parts)


def test_linear_exr_to_srgb_and_back_to_the_same_linear_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    lin = [rng.uniform(0, 3, (H, W, 3)).astype(np.float32) for _ in range(3)]
    alpha = rng.uniform(0.05, 1, (H, W)).astype(np.float32)
    alpha[0, :4] = 0.0
    for k in range(3):
        exr_frame(tmp_path / f"render_{k + 1:04d}.exr", lin[k], alpha)
    src = open_frames(tmp_path / "render_####.exr")
    assert src.linear and src.pixel_format == "float"
    f = src.read(2)
    assert f.alpha is not None
    np.testing.assert_array_equal(f.alpha, alpha)
    want = linear_to_srgb(lin[1])
    want[0, :4] = 0.0  # alpha 0: colour unknown -> 0
    np.testing.assert_allclose(f.rgb, want, rtol=2e-6, atol=1e-6)
    assert f.rgb.max() > 1.0  # highlights are kept above 1, not clipped

    out = tmp_path / "out"
    sink = ImageSequenceSink(out / "styl_%04d.exr", linear=src.linear)
    sink.write(f)
    sink.close()
    ch = read_exr_channels(out / "styl_0002.exr")
    np.testing.assert_array_equal(ch["A"], alpha)
    stored = np.stack([ch["R"], ch["G"], ch["B"]], -1)
    np.testing.assert_allclose(
        stored, premultiply(np.where(alpha[..., None] > 0, lin[1], 0), alpha), rtol=2e-6, atol=1e-6
    )


def test_colorspace_can_be_forced(tmp_path: Path) -> None:
    lin = np.full((H, W, 3), 0.5, np.float32)
    exr_frame(tmp_path / "a.exr", lin, np.ones((H, W), np.float32))
    np.testing.assert_allclose(open_frames(tmp_path / "a.exr", colorspace="srgb").read(1).rgb, 0.5)
    write_image(tmp_path / "p.png", np.full((H, W, 3), 128, np.uint8))
    src = open_frames(tmp_path / "p.png", colorspace="linear")
    assert src.linear
    np.testing.assert_allclose(src.read(1).rgb, linear_to_srgb(np.float32(128 / 255)), rtol=1e-6)
    np.testing.assert_allclose(srgb_to_linear(src.read(1).rgb), 128 / 255, rtol=1e-6)


def test_nan_exr_is_rejected_at_open(tmp_path: Path) -> None:
    lin = np.zeros((H, W, 3), np.float32)
    lin[3, 4] = np.nan
    exr_frame(tmp_path / "n_0001.exr", lin, np.ones((H, W), np.float32))
    with pytest.raises(InputError, match=r"n_0001\.exr: 1 pixel\(s\) have NaN or Inf"):
        open_frames(tmp_path / "n_####.exr")


def test_exr_without_vectors_when_required(tmp_path: Path) -> None:
    exr_frame(tmp_path / "a.exr", np.zeros((H, W, 3), np.float32), np.ones((H, W), np.float32))
    assert open_frames(tmp_path / "a.exr").read(1).flow_to_prev is None
    with pytest.raises(InputError, match="no motion-vector channels"):
        open_frames(tmp_path / "a.exr", vectors=True)


@pytest.mark.skipif(
    importlib.util.find_spec("fav_core.flow.vectors") is None,
    reason="fav_core.flow.vectors not available yet",
)
def test_exr_vector_pass_fills_host_flow(tmp_path: Path) -> None:
    vector = np.zeros((H, W, 4), np.float32)
    vector[..., 0], vector[..., 1] = -8.0, -4.0  # Blender XY: backward, y up
    vector[..., 2], vector[..., 3] = -8.0, -4.0  # ZW: negated forward, y up
    exr_frame(tmp_path / "v.exr", np.zeros((H, W, 3), np.float32), np.ones((H, W), np.float32), vector)
    f = open_frames(tmp_path / "v.exr").read(1)
    assert f.flow_to_prev is not None and f.flow_to_next is not None and f.flow_valid is not None
    np.testing.assert_array_equal(f.flow_to_prev[5, 5], [-8.0, 4.0])  # (X, -Y)
    np.testing.assert_array_equal(f.flow_to_next[5, 5], [8.0, -4.0])  # (-Z, +W)
    assert f.flow_valid.shape == (H, W) and f.flow_valid.all()
    assert open_frames(tmp_path / "v.exr", vectors=False).read(1).flow_to_prev is None


def test_vectors_required_on_a_non_image_file_is_refused_before_decoding(tmp_path: Path) -> None:
    from fav_core.errors import ConfigError

    clip = tmp_path / "shot.mov"
    clip.write_bytes(b"not decoded")  # refused by kind, before any decoding is tried
    with pytest.raises(ConfigError, match=r"shot\.mov: not an image sequence; host motion vectors need EXR"):
        open_frames(clip, vectors=True)
