"""Unreadable image files: short one-line causes (no escaped library line breaks), empty files named as such."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fav_core.errors import InputError
from fav_core.io import write_exr
from fav_core.io.exr import read_exr_channels
from fav_core.io.imagefile import read_image_frame
from fav_core.io.oiio_text import oiio_message
from fav_core.io.sinks import ImageSequenceSink
from fav_core.types import Frame


def test_oiio_message_takes_the_first_line() -> None:
    assert oiio_message("Read error: end of file\nPNG read error: IDAT: x\nPNG library error", "d") == \
        "Read error: end of file"
    assert oiio_message("\n  cause  \nmore", "d") == "cause"
    assert oiio_message("", "no pixels") == "no pixels"
    assert oiio_message(None, "no pixels") == "no pixels"


def test_corrupt_png_is_one_plain_line(tmp_path: Path) -> None:
    ImageSequenceSink(tmp_path / "f_%d.png").write(Frame(1, np.random.default_rng(0).random((32, 48, 3),
                                                                                         dtype=np.float32)))
    data = bytearray((tmp_path / "f_1.png").read_bytes())
    data[200:-40] = bytes(len(data) - 240)  # the compressed pixels zeroed, the IEND chunk still there
    (tmp_path / "f_1.png").write_bytes(bytes(data))
    with pytest.raises(InputError) as exc:
        read_image_frame(tmp_path / "f_1.png", 1)
    text = str(exc.value)
    assert text.startswith(f"{tmp_path / 'f_1.png'}: cannot decode image: ")
    assert "\\n" not in text and "PNG library error" not in text


@pytest.mark.parametrize("ext", ["png", "exr"])
def test_empty_file_says_so(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"f_1.{ext}"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty file \(0 bytes\)"):
        read_image_frame(path, 1)
    if ext == "exr":
        with pytest.raises(InputError, match=r"empty file \(0 bytes\)"):
            read_exr_channels(path)


def test_truncated_exr_is_one_plain_line(tmp_path: Path) -> None:
    write_exr(tmp_path / "f.exr", np.random.default_rng(0).random((32, 48, 3), dtype=np.float32))
    data = (tmp_path / "f.exr").read_bytes()
    (tmp_path / "f.exr").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as exc:
        read_exr_channels(tmp_path / "f.exr")
    assert "\\n" not in str(exc.value) and "f.exr: cannot read EXR" in str(exc.value)


def test_deep_exr_is_refused_with_a_hint(tmp_path: Path) -> None:
    import OpenImageIO as oiio

    spec = oiio.ImageSpec(4, 3, 4, oiio.FLOAT)
    spec.channelnames = ("R", "G", "B", "A")
    spec.deep = True
    buf = oiio.ImageBuf(spec)
    for y in range(3):
        for x in range(4):
            buf.set_deep_samples(x, y, 0, 1)
            for c in range(4):
                buf.set_deep_value(x, y, 0, c, 0, 0.5)
    assert buf.write(str(tmp_path / "d.exr")), buf.geterror()
    with pytest.raises(InputError, match=r"d\.exr: part 0 is a deep image; flatten it first"):
        read_image_frame(tmp_path / "d.exr", 1)
