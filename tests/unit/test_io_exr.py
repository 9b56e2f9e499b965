"""EXR reading of every part of a multi-part file, colour/alpha lookup, atomic writing (fav_core.io.exr)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from fav_core.errors import InputError, OutputError
from fav_core.io.exr import find_rgba, read_exr_channels, write_exr

H, W = 16, 24


def write_multipart(path: Path, parts: list[tuple[str, list[str], np.ndarray, object]]) -> None:
    """Write a multi-part EXR like Blender 5.0 does: one part (OIIO subimage) per pass."""
    specs = []
    for part_name, names, _, fmt in parts:
        spec = oiio.ImageSpec(W, H, len(names), fmt)
        spec.channelnames = tuple(names)
        spec.attribute("name", part_name)
        specs.append(spec)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), tuple(specs))
    for i, (_, _, data, _) in enumerate(parts):
        if i > 0:
            assert out.open(str(path), specs[i], "AppendSubimage")
        assert out.write_image(np.ascontiguousarray(data, dtype=np.float32))
    out.close()


def blender_like(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    combined = rng.uniform(0, 2, (H, W, 4)).astype(np.float32)
    vector = rng.uniform(-8, 8, (H, W, 4)).astype(np.float32)
    write_multipart(
        path,
        [
            ("ViewLayer.Combined", [f"ViewLayer.Combined.{c}" for c in "RGBA"], combined, oiio.HALF),
            ("ViewLayer.Vector", [f"ViewLayer.Vector.{c}" for c in "XYZW"], vector, oiio.FLOAT),
        ],
    )
    return combined, vector


def test_multipart_reads_all_parts_by_name(tmp_path: Path) -> None:
    p = tmp_path / "render_0001.exr"
    combined, vector = blender_like(p)
    ch = read_exr_channels(p)
    assert set(ch) == {f"ViewLayer.Combined.{c}" for c in "RGBA"} | {f"ViewLayer.Vector.{c}" for c in "XYZW"}
    for name, arr in ch.items():
        assert arr.shape == (H, W) and arr.dtype == np.float32, name
    half = combined.astype(np.float16).astype(np.float32)  # Combined is stored as half
    np.testing.assert_array_equal(ch["ViewLayer.Combined.G"], half[..., 1])
    np.testing.assert_array_equal(ch["ViewLayer.Vector.X"], vector[..., 0])  # second part, float, exact
    np.testing.assert_array_equal(ch["ViewLayer.Vector.W"], vector[..., 3])
    rgb, alpha = find_rgba(ch, p)
    np.testing.assert_array_equal(rgb, half[..., :3])
    assert alpha is not None
    np.testing.assert_array_equal(alpha, half[..., 3])


def test_single_part_plain_names(tmp_path: Path) -> None:
    p = tmp_path / "nuke.exr"
    data = np.arange(H * W * 5, dtype=np.float32).reshape(H, W, 5) / 100
    write_multipart(p, [("rgba", ["R", "G", "B", "forward.u", "forward.v"], data, oiio.FLOAT)])
    ch = read_exr_channels(p)
    assert set(ch) == {"R", "G", "B", "forward.u", "forward.v"}
    np.testing.assert_array_equal(ch["forward.v"], data[..., 4])
    rgb, alpha = find_rgba(ch, p)
    assert alpha is None
    np.testing.assert_array_equal(rgb, data[..., :3])


def test_plain_rgb_wins_over_layers_and_any_layer_name_works() -> None:
    z = np.zeros((2, 2), np.float32)
    one = np.ones((2, 2), np.float32)
    rgb, alpha = find_rgba(
        {"View Layer.Combined.R": one, "View Layer.Combined.G": one, "View Layer.Combined.B": one}
    )
    assert rgb.shape == (2, 2, 3) and rgb.min() == 1.0 and alpha is None
    rgb, _ = find_rgba(
        {
            "R": z,
            "G": z,
            "B": z,
            "ViewLayer.Combined.R": one,
            "ViewLayer.Combined.G": one,
            "ViewLayer.Combined.B": one,
        }
    )
    assert rgb.max() == 0.0


def test_missing_rgb_names_the_file() -> None:
    z = np.zeros((2, 2), np.float32)
    with pytest.raises(InputError, match=r"shot\.exr.*no R,G,B"):
        find_rgba({"ViewLayer.Vector.X": z, "R": z, "G": z}, "shot.exr")


def test_nan_and_inf_pixels_are_counted() -> None:
    r = np.zeros((3, 3), np.float32)
    r[0, 0] = np.nan
    a = np.ones((3, 3), np.float32)
    a[2, 1] = np.inf
    g = r.copy()  # the same pixel twice counts once
    with pytest.raises(InputError, match=r"f\.exr: 2 pixel\(s\) have NaN or Inf"):
        find_rgba({"R": r, "G": g, "B": np.zeros((3, 3), np.float32), "A": a}, "f.exr")


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.exr"
    bad.write_bytes(b"v/1\x01 this is not an EXR file at all" * 4)
    with pytest.raises(InputError, match="bad.exr"):
        read_exr_channels(bad)
    with pytest.raises(InputError, match="no such file"):
        read_exr_channels(tmp_path / "nope.exr")


@pytest.mark.parametrize("half", [False, True])
def test_write_exr_round_trip_atomic(tmp_path: Path, half: bool) -> None:
    rng = np.random.default_rng(1)
    rgb = rng.uniform(-0.5, 4.0, (H, W, 3)).astype(np.float32)
    alpha = rng.uniform(0, 1, (H, W)).astype(np.float32)
    depth = rng.uniform(0, 100, (H, W)).astype(np.float32)
    p = tmp_path / "out.exr"
    write_exr(p, rgb, alpha, {"Depth.Z": depth}, half=half)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["out.exr"]  # no temp file left
    ch = read_exr_channels(p)
    assert list(ch) == ["R", "G", "B", "A", "Depth.Z"]
    conv = (lambda x: x.astype(np.float16).astype(np.float32)) if half else (lambda x: x)
    np.testing.assert_array_equal(ch["B"], conv(rgb[..., 2]))
    np.testing.assert_array_equal(ch["A"], conv(alpha))
    np.testing.assert_array_equal(ch["Depth.Z"], conv(depth))


def test_write_exr_into_missing_folder_is_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="file"):
        write_exr(blocker / "out.exr", np.zeros((2, 2, 3), np.float32))


def test_data_window_is_placed_in_display_window(tmp_path: Path) -> None:
    p = tmp_path / "crop.exr"
    spec = oiio.ImageSpec(10, 5, 3, oiio.FLOAT)
    spec.channelnames = ("R", "G", "B")
    spec.x, spec.y = 2, 3
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, W, H
    data = np.ones((5, 10, 3), np.float32)
    out = oiio.ImageOutput.create(str(p))
    assert out.open(str(p), spec)
    assert out.write_image(data)
    out.close()
    ch = read_exr_channels(p)
    assert ch["R"].shape == (H, W)
    want = np.zeros((H, W), np.float32)
    want[3:8, 2:12] = 1.0
    np.testing.assert_array_equal(ch["G"], want)


def test_headers_list_the_channels_of_every_part(tmp_path: Path) -> None:
    from fav_core.io.imagefile import read_header

    blender_like(tmp_path / "render_0001.exr")
    names = read_header(tmp_path / "render_0001.exr").channels
    assert names == tuple(f"ViewLayer.Combined.{c}" for c in "RGBA") + tuple(f"ViewLayer.Vector.{c}" for c in "XYZW")


def test_required_vectors_are_checked_in_every_frame_before_work(tmp_path: Path) -> None:
    """--flow pass: a frame without vectors half-way through the shot stops the job before it starts."""
    from fav_core.io import open_frames

    for i in (1, 2, 4):
        blender_like(tmp_path / f"render_{i:04d}.exr")
    write_exr(tmp_path / "render_0003.exr", np.zeros((H, W, 3), np.float32))  # re-rendered without the pass
    assert open_frames(tmp_path / "render_####.exr", vectors=None).indices == [1, 2, 3, 4]  # when present
    with pytest.raises(InputError, match=r"render_0003\.exr: no motion-vector channels .* every frame"):
        open_frames(tmp_path / "render_####.exr", vectors=True)
