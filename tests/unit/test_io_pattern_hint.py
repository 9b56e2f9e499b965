"""A pattern whose zero padding differs from the files: the error names a file and the pattern to use."""
from __future__ import annotations

from pathlib import Path

import pytest

from fav_core.errors import InputError
from fav_core.io import open_frames


def touch_frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"")


@pytest.mark.parametrize(("files", "asked", "hint"), [
    (["f_0001.png", "f_0002.png"], "f_%d.png", "(the folder has f_0001.png: use f_%04d.png)"),
    (["f_0001.png", "f_0002.png"], "f_###.png", "(the folder has f_0001.png: use f_%04d.png)"),
    (["shot.1.png", "shot.2.png"], "shot.%04d.png", "(the folder has shot.1.png: use shot.%d.png)"),
    (["plate.1001.exr"], "plate.%05d.exr", "(the folder has plate.1001.exr: use plate.%d.exr)"),
])
def test_padding_mismatch_names_the_right_pattern(tmp_path: Path, files: list[str], asked: str, hint: str) -> None:
    touch_frames(tmp_path, files)
    with pytest.raises(InputError) as exc:
        open_frames(tmp_path / asked)
    assert str(exc.value) == f"{tmp_path / asked}: no files match this pattern {hint}"


def test_no_hint_when_nothing_resembles_the_pattern(tmp_path: Path) -> None:
    touch_frames(tmp_path, ["f_0001.png", "g_0001.jpg", "notes.txt"])
    with pytest.raises(InputError) as exc:
        open_frames(tmp_path / "g_%04d.png")
    assert str(exc.value).endswith("no files match this pattern")
