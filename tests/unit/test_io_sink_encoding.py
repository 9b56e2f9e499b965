"""EXR output of ``make_sink``: scene-linear for integer sources too, half floats for half sources."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fav_core.io import make_sink, read_exr_channels, srgb_to_linear
from fav_core.io.imagefile import read_header
from fav_core.io.sinks import exr_linear
from fav_core.types import Frame


class _Like:
    """A minimal FrameSource stand-in for make_sink."""

    def __init__(self, linear: bool, pixel_format: str) -> None:
        self.path, self.indices, self.linear, self.pixel_format = "src", [1, 2], linear, pixel_format
        self.fps, self.rate = None, None

    def __len__(self) -> int:
        return len(self.indices)


def write_one(tmp_path: Path, like: _Like) -> Path:
    sink = make_sink(tmp_path / "o_%02d.exr", like=like)  # type: ignore[arg-type]
    sink.write(Frame(1, np.full((4, 6, 3), 0.5, np.float32)))
    sink.close()
    return tmp_path / "o_01.exr"


@pytest.mark.parametrize("pixel_format", ["uint8", "uint16"])
def test_exr_from_an_integer_source_is_scene_linear(tmp_path: Path, pixel_format: str) -> None:
    """A PNG/JPEG/video (sRGB-encoded) written to EXR: compositors read EXR as linear, so it is linearised."""
    path = write_one(tmp_path, _Like(linear=False, pixel_format=pixel_format))
    np.testing.assert_allclose(read_exr_channels(path)["G"], srgb_to_linear(np.float32(0.5)), rtol=1e-6)
    assert abs(float(srgb_to_linear(np.float32(0.5))) - 0.21404) < 1e-4


def test_exr_from_a_float_source_read_as_srgb_keeps_its_encoding(tmp_path: Path) -> None:
    path = write_one(tmp_path, _Like(linear=False, pixel_format="float"))
    np.testing.assert_array_equal(read_exr_channels(path)["G"], np.full((4, 6), 0.5, np.float32))


def test_exr_output_matches_the_source_precision(tmp_path: Path) -> None:
    (tmp_path / "h").mkdir()
    (tmp_path / "f").mkdir()
    half = write_one(tmp_path / "h", _Like(linear=True, pixel_format="half"))
    full = write_one(tmp_path / "f", _Like(linear=True, pixel_format="float"))
    assert read_header(half).pixel_format == "half"
    assert read_header(full).pixel_format == "float"
    np.testing.assert_allclose(read_exr_channels(full)["R"], srgb_to_linear(np.float32(0.5)), rtol=1e-6)


def test_exr_linear_rule() -> None:
    assert exr_linear(_Like(True, "half")) and exr_linear(_Like(True, "uint8"))  # type: ignore[arg-type]
    assert exr_linear(_Like(False, "uint8")) and exr_linear(_Like(False, "uint16"))  # type: ignore[arg-type]
    assert not exr_linear(_Like(False, "float")) and not exr_linear(_Like(False, "half"))  # type: ignore[arg-type]
