"""The headless entry ``hosts/blender/batch.py`` run as ``python batch.py scene.blend ...`` with the bpy
module: renders with the Vector pass, stylizes synchronously, and exits non-zero with one clear line on bad
input."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

from blender_support import ADDON_DIR, ROOT, build_scene, write_models  # noqa: E402

from fav_core.io import read_exr_channels  # noqa: E402

pytestmark = pytest.mark.host

BATCH = ADDON_DIR / "batch.py"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return write_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scene") / "scene.blend"
    build_scene()
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def _batch(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FAV_PYTHON", "FAV_CORE_MODE")}
    return subprocess.run([sys.executable, str(BATCH), *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300, check=False)


def _batch_args(blend: Path, models: tuple[str, str], out: Path) -> list[str]:
    return [str(blend), "--model", models[0], "--image-model", models[1], "--frames", "1-3", "--out", str(out),
            "--flow", "pass", "--median-filter", "1"]


@pytest.fixture(scope="module")
def batch_out(tmp_path_factory: pytest.TempPathFactory, blend: Path,
              models: tuple[str, str]) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("batch") / "out"
    return out, _batch(*_batch_args(blend, models, out))


def test_batch_renders_and_stylizes_n_frames(batch_out: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, done = batch_out
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.glob("stylized_*.exr")) == [f"stylized_{i:04d}.exr" for i in (1, 2, 3)]
    assert sorted(p.name for p in (out / "render").glob("*.exr")) == [f"render_{i:04d}.exr" for i in (1, 2, 3)]
    assert "ViewLayer.Vector.X" in read_exr_channels(out / "render" / "render_0002.exr")
    stylized = read_exr_channels(out / "stylized_0003.exr")
    assert stylized["R"].shape == (64, 96)
    assert "3 frames stylized" in done.stderr


def test_batch_rerun_on_complete_output_stylizes_nothing(
    batch_out: tuple[Path, subprocess.CompletedProcess[str]], blend: Path, models: tuple[str, str]
) -> None:
    out, _ = batch_out
    again = _batch(*_batch_args(blend, models, out), "--reuse-renders")
    assert again.returncode == 0, again.stderr
    assert "0 frames stylized" in again.stderr


def test_batch_pass_flow_with_workbench_fails_clearly(tmp_path: Path, models: tuple[str, str]) -> None:
    scene = build_scene()
    scene.render.engine = "BLENDER_WORKBENCH"
    path = tmp_path / "workbench.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    done = _batch(str(path), "--model", models[0], "--out", str(tmp_path / "out"), "--flow", "pass")
    assert done.returncode == 2
    assert "render engine BLENDER_WORKBENCH writes no Vector pass" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out" / "render").exists()


def test_batch_reused_renders_without_vector_pass_fail_clearly(tmp_path: Path, blend: Path,
                                                               models: tuple[str, str]) -> None:
    scene = build_scene()
    scene.render.image_settings.media_type = "MULTI_LAYER_IMAGE"
    for f in (1, 2):
        scene.frame_set(f)
        scene.render.filepath = str(tmp_path / "out" / "render" / f"render_{f:04d}.exr")
        bpy.ops.render.render(write_still=True)
    done = _batch(str(blend), "--model", models[0], "--frames", "1-2", "--out", str(tmp_path / "out"),
                  "--reuse-renders")
    assert done.returncode == 2
    assert "render_0001.exr: rendered without the Vector pass" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "/nowhere/candy.safetensors"], "candy.safetensors: model file not found"),
        (["--model", "m", "--frames", "5-2"], "the last frame is before the first"),
        (["--model", "m", "--scene", "Nope"], "no scene named 'Nope'"),
        (["--model", "m", "--view-layer", "Nope"], "has no view layer 'Nope' (it has 'ViewLayer')"),
    ],
)
def test_batch_bad_input_exit_message(tmp_path: Path, blend: Path, args: list[str], message: str) -> None:
    done = _batch(str(blend), "--out", str(tmp_path / "out"), *args)
    assert done.returncode == 2
    assert message in done.stderr


def test_batch_unwritable_out_fails_with_one_line(tmp_path: Path, blend: Path) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    done = _batch(str(blend), "--model", "m", "--frames", "1-1", "--out", str(tmp_path / "a_file" / "out"))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"fav-blender: error: {tmp_path / 'a_file' / 'out' / 'render'}: cannot create this folder")


def test_batch_rerun_that_renders_again_stylizes_again(
    batch_out: tuple[Path, subprocess.CompletedProcess[str]], blend: Path, models: tuple[str, str]
) -> None:
    """Without --reuse-renders the frames are rendered again; the stylized frames already there are of the old
    renders, so they are made again (the core alone would resume: same file names, same settings)."""
    out, _ = batch_out
    again = _batch(*_batch_args(blend, models, out))
    assert again.returncode == 0, again.stderr
    assert "the frames are rendered again, so stylization starts over" in again.stderr
    assert "3 frames stylized" in again.stderr
