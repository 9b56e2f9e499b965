"""Host-level bad input (pure-Python parts of the Nuke node and the Blender extension)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fav_core.errors import ConfigError, OutputError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hosts" / "nuke"))

from fav_nuke.paths import JobPaths, job_folder  # noqa: E402
from fav_nuke.process import parse_event  # noqa: E402
from fav_nuke.settings import StickySettings, load_settings, save_settings  # noqa: E402


@pytest.mark.parametrize("content", [b"", b"{not json", b"\xff\xfe\x00", b"[1, 2]", b'{"core_python": 3}', b"null"])
def test_nuke_corrupt_settings_give_defaults(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fav_nuke.json"
    path.write_bytes(content)
    assert load_settings(path) == StickySettings()


def test_nuke_settings_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError) as info:
        save_settings(blocker / "fav_nuke.json", StickySettings(core_python="/usr/bin/python3"))
    assert "fav_nuke.json" in str(info.value) and "\n" not in str(info.value)
    assert blocker.read_text() == "x"


def test_nuke_job_folder_needs_a_saved_script_or_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        job_folder("", "", "Fav1")
    assert job_folder("", str(tmp_path / "shot.nk"), "Fav1") == tmp_path / "fav" / "shot" / "Fav1"


def test_nuke_job_dirs_below_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError) as info:
        JobPaths(blocker / "job").make_dirs()
    assert "plate" in str(info.value)


@settings(max_examples=200, deadline=None)
@given(line=st.one_of(st.text(max_size=60), st.sampled_from(['{"event": 1}', '{"event": "frame"}', "[]", "nul",
                                                             '{"event": "done", "written": 3}', "\x00"])))
def test_nuke_parse_event_never_raises(line: str) -> None:
    event = parse_event(line)
    assert event is None or (isinstance(event, dict) and isinstance(event["event"], str))


def test_nuke_parse_event_deeply_nested_json() -> None:  # fixed in fav_core.jobclient.parse_event
    assert parse_event("[" * 100_000 + "]" * 100_000) is None


def test_blender_options_and_names() -> None:
    pytest.importorskip("bpy")
    from hosts.blender.errors import HostError
    from hosts.blender.options import StylizeOptions, resolve_model
    from hosts.blender.paths import job_name

    for bad in ({"model": "  "}, {"model": "m", "device": "tpu"}, {"model": "m", "flow": "magic"},
                {"model": "m", "median_filter": 0}, {"model": "m", "flow": "raft"}, {"model": "m", "num_frames": 0}):
        with pytest.raises(HostError):
            StylizeOptions(**bad)
    with pytest.raises(HostError, match="missing.safetensors"):
        resolve_model("/nowhere/missing.safetensors", "")
    for parts in (("../../etc", "passwd"), ("..", ".."), ("/abs/olute", "x/../../y.safetensors"), ("", "")):
        name = job_name(*parts)
        assert name and "/" not in name and "\\" not in name and name not in (".", "..")
