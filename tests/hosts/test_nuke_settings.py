"""fav_nuke.settings (sticky core interpreter) and fav_nuke.paths (job layout, stale plate frames)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hosts" / "nuke"))

from fav_nuke.frames import FrameRange  # noqa: E402
from fav_nuke.paths import JobPaths, job_folder  # noqa: E402
from fav_nuke.settings import (  # noqa: E402
    StickySettings,
    load_settings,
    resolve_core_python,
    save_settings,
    settings_path,
)

from fav_core.errors import ConfigError  # noqa: E402


def test_settings_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "fav_nuke.json"
    assert load_settings(path) == StickySettings()
    save_settings(path, StickySettings(core_python="/venv/bin/python"))
    assert load_settings(path) == StickySettings(core_python="/venv/bin/python")
    assert not path.with_name("fav_nuke.json.tmp").exists()


@pytest.mark.parametrize("text", ["{not json", "[1]", '{"core_python": 3}'])
def test_corrupt_settings_give_defaults_with_warning(tmp_path: Path, text: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "s.json"
    path.write_text(text)
    with caplog.at_level(logging.WARNING):
        assert load_settings(path) == StickySettings()
    assert str(path) in caplog.text


def test_settings_path_and_resolution(tmp_path: Path) -> None:
    assert settings_path({"FAV_NUKE_SETTINGS": str(tmp_path / "x.json")}) == tmp_path / "x.json"
    assert settings_path({}).name == "fav_nuke.json"
    saved = StickySettings(core_python="/saved/python")
    assert resolve_core_python(" /knob/python ", {"FAV_PYTHON": "/env/python"}, saved) == "/knob/python"
    assert resolve_core_python("", {"FAV_PYTHON": "/env/python"}, saved) == "/env/python"
    assert resolve_core_python("", {}, saved) == "/saved/python"
    assert resolve_core_python("", {}, StickySettings()) in ("python3", "python")


def test_job_layout(tmp_path: Path) -> None:
    paths = JobPaths(tmp_path / "job")
    assert paths.plate_pattern == (tmp_path / "job" / "plate" / "plate.%04d.exr").as_posix()
    assert paths.stylized_pattern == (tmp_path / "job" / "stylized" / "stylized.%04d.exr").as_posix()
    assert paths.stylized_frame(7) == tmp_path / "job" / "stylized" / "stylized.0007.exr"
    paths.make_dirs()
    assert paths.plate_dir.is_dir() and paths.stylized_dir.is_dir()


def test_remove_stale_plate_only_touches_our_frames(tmp_path: Path) -> None:
    paths = JobPaths(tmp_path)
    paths.make_dirs()
    for name in ("plate.0001.exr", "plate.0002.exr", "plate.0005.exr", "plate.12345.exr", "notes.txt",
                 "plate.0009.exr.tmp"):
        (paths.plate_dir / name).write_text("x")
    removed = paths.remove_stale_plate(FrameRange(2, 4))
    assert sorted(p.name for p in removed) == ["plate.0001.exr", "plate.0005.exr", "plate.12345.exr"]
    assert sorted(p.name for p in paths.plate_dir.iterdir()) == ["notes.txt", "plate.0002.exr",
                                                                 "plate.0009.exr.tmp"]


def test_job_folder(tmp_path: Path) -> None:
    assert job_folder(f" {tmp_path}/out ", "", "N1") == tmp_path / "out"
    assert job_folder("", "/shots/a/comp_v3.nk", "FastArtisticVideos1") == Path(
        "/shots/a/fav/comp_v3/FastArtisticVideos1")
    with pytest.raises(ConfigError, match="save the script first"):
        job_folder("", "", "N1")


def test_job_folder_node_name_cannot_leave_the_fav_folder() -> None:
    base = Path("/shots/a/fav/comp_v3")
    assert job_folder("", "/shots/a/comp_v3.nk", "../../etc") == base / "_.._etc"
    assert job_folder("", "/shots/a/comp_v3.nk", "a/b\\c") == base / "a_b_c"
    assert job_folder("", "/shots/a/comp_v3.nk", "..") == base / "node"
    for name in ("../../etc", "..", "a/b", "/abs"):
        assert job_folder("", "/shots/a/comp_v3.nk", name).parent == base
