"""Truncated PNG/EXR frames are found from their end / chunk table, before any pixel is decoded."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from fav_core.errors import InputError
from fav_core.io import ImageSequenceSink, write_exr
from fav_core.io.imagefile import read_header
from fav_core.io.truncation import check_complete, exr_truncation, png_truncation
from fav_core.types import Frame

RNG = np.random.default_rng(0)


def noise(h: int = 40, w: int = 56, c: int = 3) -> np.ndarray:
    return RNG.random((h, w, c), dtype=np.float32)


def write_oiio(path: Path, data: np.ndarray, fmt: oiio.TypeDesc = oiio.HALF, **spec_attrs: int) -> None:
    spec = oiio.ImageSpec(data.shape[1], data.shape[0], data.shape[2], fmt)
    for k, v in spec_attrs.items():
        setattr(spec, k, v)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(data)), out.geterror()
    out.close()


def write_multipart(path: Path) -> None:
    specs = []
    for n, names in enumerate((("R", "G", "B"), ("V.X", "V.Y"))):
        s = oiio.ImageSpec(56, 40, len(names), oiio.HALF)
        s.channelnames = names
        s.attribute("name", f"part{n}")
        specs.append(s)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), tuple(specs)), out.geterror()
    out.write_image(noise())
    assert out.open(str(path), specs[1], "AppendSubimage")
    out.write_image(noise(c=2))
    out.close()


def complete_files(folder: Path) -> list[Path]:
    sink8 = ImageSequenceSink(folder / "p8_%d.png")
    sink8.write(Frame(1, noise(), noise(c=1)[..., 0]))
    ImageSequenceSink(folder / "p16_%d.png", bits=16).write(Frame(1, noise()))
    write_exr(folder / "float.exr", noise(), noise(c=1)[..., 0])
    write_exr(folder / "half.exr", noise(), half=True, compression="piz")
    write_exr(folder / "none.exr", noise(), compression="none")
    write_oiio(folder / "tiled.exr", noise(), tile_width=16, tile_height=16)
    write_oiio(folder / "window.exr", noise(), x=5, y=3, full_width=70, full_height=50)
    write_multipart(folder / "multi.exr")
    return sorted(folder.iterdir())


def test_complete_files_pass(tmp_path: Path) -> None:
    files = complete_files(tmp_path)
    assert len(files) == 8
    for f in files:
        check_complete(f)
        read_header(f)


@pytest.mark.parametrize("name", ["p8_1.png", "p16_1.png", "float.exr", "half.exr", "none.exr", "tiled.exr",
                                  "window.exr", "multi.exr"])
def test_files_cut_after_their_header_are_found(tmp_path: Path, name: str) -> None:
    complete_files(tmp_path / "src")
    data = (tmp_path / "src" / name).read_bytes()
    find = png_truncation if name.endswith(".png") else exr_truncation
    start = 64 if name.endswith(".png") else data.index(b"\0\0", 8)  # past the EXR attribute list
    for cut in np.linspace(start + 1600 if name == "multi.exr" else start, len(data) - 1, 9).astype(int):
        path = tmp_path / name
        path.write_bytes(data[:cut])
        problem = find(path)
        if name.endswith(".exr") and cut < 800:  # a cut inside an EXR header: the decoder reports it
            continue
        assert problem is not None and problem.startswith("truncated"), (name, cut)
        with pytest.raises(InputError, match=r"truncated (PNG|EXR).*interrupted write or copy"):
            read_header(path)


def test_other_files_pass_unchecked(tmp_path: Path) -> None:
    (tmp_path / "x.exr").write_bytes(b"not an exr at all")
    (tmp_path / "x.png").write_bytes(b"not a png at all")
    (tmp_path / "x.jpg").write_bytes(b"\xff\xd8")
    for f in tmp_path.iterdir():
        check_complete(f)  # the decoder reports these


def test_an_unreadable_file_is_one_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fav_core.io import truncation

    complete_files(tmp_path)

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(truncation, "open", denied, raising=False)  # root reads every file: chmod cannot show it
    for name in ("p8_1.png", "float.exr"):
        with pytest.raises(InputError, match=rf"{name}: cannot read the file \(Permission denied\)"):
            check_complete(tmp_path / name)


def test_a_png_with_bytes_after_iend_is_complete(tmp_path: Path) -> None:
    """Padding or data appended after IEND: libpng and OpenCV read the picture, so the check must not refuse it;
    the same file cut inside its pixel data is still found."""
    complete_files(tmp_path / "src")
    data = (tmp_path / "src" / "p8_1.png").read_bytes()
    padded = tmp_path / "padded.png"
    padded.write_bytes(data + bytes(200))
    assert png_truncation(padded) is None
    read_header(padded)
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2] + bytes(200))  # cut in the middle, then zero-filled
    assert (png_truncation(cut) or "").startswith("truncated PNG")
