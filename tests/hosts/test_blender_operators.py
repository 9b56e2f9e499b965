"""Real bpy: the registered operators run in background mode (synchronously) with the real core in a child
process and a tiny random model: Sequencer strip in, stylized strip out; render in, compositor node out."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_support import (  # noqa: E402
    FakeEvent,
    FakeWindowManager,
    FakeWorkspace,
    build_scene,
    load_addon,
    write_models,
    write_png_sequence,
)

from fav_core.io import read_exr_channels  # noqa: E402

pytestmark = pytest.mark.host

addon = load_addon()


@pytest.fixture(scope="module", autouse=True)
def registered() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAV_CORE_MODE", "SUBPROCESS")  # the child-process path, as in a Blender without torch
        addon.register()
        yield
        addon.unregister()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return write_models(tmp_path_factory.mktemp("models"))


def _settings(scene: Any, models: tuple[str, str], out: Path) -> Any:
    s = scene.fav_settings
    s.model, s.image_model = models
    s.output_dir = str(out)
    s.median_filter = 1
    return s


def _sequencer_scene(tmp_path: Path, n: int) -> tuple[Any, Any]:
    """Empty scene with an image strip of ``n`` frames on channel 2 at frame 10, and a colour strip on
    channel 3 over frames 12-15 (so the first free channel above is 4)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    files = write_png_sequence(tmp_path / "footage", n)
    se = scene.sequence_editor_create()
    strip = se.strips.new_image("Shot", str(files[0]), 2, 10)
    for f in files[1:]:
        strip.elements.append(f.name)
    se.strips.new_effect("Blocker", "COLOR", 3, 12, length=4)
    se.active_strip = strip
    return scene, strip


def test_stylize_strip_adds_image_strip_above_aligned(tmp_path: Path, models: tuple[str, str]) -> None:
    scene, strip = _sequencer_scene(tmp_path, 4)
    # placed by the artist ("Scale to Fit" on import is stored as the scale): the result must sit on top of it
    strip.transform.scale_x, strip.transform.scale_y = 2.5, 2.25
    strip.transform.offset_x, strip.transform.offset_y, strip.transform.rotation = 12.0, -7.0, 0.25
    strip.crop.min_x, strip.crop.max_y = 2, 3
    strip.use_flip_x = True
    _settings(scene, models, tmp_path / "out")
    assert bpy.ops.fav.stylize_strip() == {"FINISHED"}
    new = scene.sequence_editor.strips[f"{strip.name} stylized"]
    assert new.type == "IMAGE"
    t = new.transform
    assert (t.scale_x, t.scale_y, t.offset_x, t.offset_y, t.rotation) == (2.5, 2.25, 12.0, -7.0, 0.25)
    assert (new.crop.min_x, new.crop.max_y, new.use_flip_x, new.use_flip_y) == (2, 3, True, False)
    assert new.channel == 4
    assert (new.frame_final_start, new.frame_final_duration) == (10, 4)
    assert [e.filename for e in new.elements] == [f"stylized_{i:05d}.png" for i in range(1, 5)]
    folder = Path(bpy.path.abspath(new.directory))
    assert all((folder / e.filename).is_file() for e in new.elements)
    assert scene.fav_settings.status.startswith("added strip")
    assert scene.fav_settings.running is False


def test_stylize_trimmed_strip_uses_visible_frames_only(tmp_path: Path, models: tuple[str, str]) -> None:
    scene, strip = _sequencer_scene(tmp_path, 5)
    strip.frame_offset_start = 2  # visible: elements 3..5 at frames 12..14
    strip.channel = 5
    strip.colorspace_settings.name = "Rec.1886"  # the artist's declared encoding comes back on the result
    _settings(scene, models, tmp_path / "out")
    assert bpy.ops.fav.stylize_strip() == {"FINISHED"}
    new = scene.sequence_editor.strips[f"{strip.name} stylized"]
    assert (new.channel, new.frame_final_start, new.frame_final_duration) == (6, 12, 3)
    assert new.colorspace_settings.name == "Rec.1886"
    linked = sorted((tmp_path / "out").glob("*/input/frame_*.png"))
    assert [p.resolve().name for p in linked] == ["shot_0003.png", "shot_0004.png", "shot_0005.png"]


def test_stylize_movie_strip_keeps_trim_and_timing(tmp_path: Path, models: tuple[str, str]) -> None:
    import av

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    movie = tmp_path / "clip.mp4"
    with av.open(str(movie), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(6):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), "rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    se = scene.sequence_editor_create()
    strip = se.strips.new_movie("Clip", str(movie), 1, 20)
    strip.frame_offset_start = 1
    strip.frame_offset_end = 2
    se.active_strip = strip
    _settings(scene, models, tmp_path / "out")
    assert bpy.ops.fav.stylize_strip() == {"FINISHED"}
    new = se.strips["Clip stylized"]
    assert new.channel == 2
    assert (new.frame_final_start, new.frame_final_end) == (strip.frame_final_start, strip.frame_final_end)
    assert new.frame_offset_start == 1
    assert len(new.elements) == 4  # movie frames 1..4: the hidden head frame is stylized too (recurrence)


def test_no_active_strip_is_reported(tmp_path: Path, models: tuple[str, str]) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    _settings(bpy.context.scene, models, tmp_path)
    with pytest.raises(RuntimeError, match="no active strip: select a movie or image strip"):
        bpy.ops.fav.stylize_strip()


def test_sound_strip_is_reported(tmp_path: Path, models: tuple[str, str]) -> None:
    import wave

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    wav = tmp_path / "tone.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 8000)
    se = scene.sequence_editor_create()
    se.active_strip = se.strips.new_sound("Tone", str(wav), 1, 1)
    _settings(scene, models, tmp_path)
    with pytest.raises(RuntimeError, match="strip 'Tone' is a sound strip"):
        bpy.ops.fav.stylize_strip()


def test_missing_model_file_is_reported(tmp_path: Path, models: tuple[str, str]) -> None:
    scene, _ = _sequencer_scene(tmp_path, 3)
    settings = _settings(scene, models, tmp_path / "out")
    settings.model = str(tmp_path / "nowhere" / "candy.safetensors")
    with pytest.raises(RuntimeError, match=r"candy\.safetensors: model file not found"):
        bpy.ops.fav.stylize_strip()
    assert len(scene.sequence_editor.strips) == 2  # nothing added


def test_unknown_model_name_is_reported_from_the_core(tmp_path: Path, models: tuple[str, str]) -> None:
    scene, _ = _sequencer_scene(tmp_path, 3)
    settings = _settings(scene, models, tmp_path / "out")
    settings.model = "no-such-style"
    with pytest.raises(RuntimeError, match="no-such-style"):
        bpy.ops.fav.stylize_strip()
    assert len(scene.sequence_editor.strips) == 2


def test_stylize_render_wires_image_node_into_compositor(tmp_path: Path, models: tuple[str, str]) -> None:
    scene = build_scene()
    settings = _settings(scene, models, tmp_path / "out")
    assert settings.flow == "PASS"
    assert bpy.ops.fav.stylize_render() == {"FINISHED"}
    tree = scene.compositing_node_group
    node = tree.nodes["FAV Stylized"]
    assert node.bl_idname == "CompositorNodeImage"
    assert node.image.source == "SEQUENCE"
    assert Path(node.image.filepath).name == "stylized_0001.exr"
    assert (node.frame_start, node.frame_duration, node.frame_offset) == (1, 3, 0)
    out = next(n for n in tree.nodes if n.bl_idname == "NodeGroupOutput")
    assert [link.from_node.name for link in out.inputs[0].links] == ["FAV Stylized"]
    folder = Path(node.image.filepath).parent
    assert sorted(p.name for p in folder.glob("stylized_*.exr")) == [f"stylized_{i:04d}.exr" for i in (1, 2, 3)]
    assert scene.view_layers[0].use_pass_vector is False  # the user's settings are back

    # the compositor now shows stylized frame f at scene frame f
    scene.render.use_compositing = True
    scene.render.image_settings.media_type = "IMAGE"
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.frame_set(2)
    scene.render.filepath = str(tmp_path / "comp_0002.exr")
    bpy.ops.render.render(write_still=True)
    shown = read_exr_channels(tmp_path / "comp_0002.exr")
    want = read_exr_channels(folder / "stylized_0002.exr")
    other = read_exr_channels(folder / "stylized_0001.exr")
    np.testing.assert_allclose(shown["R"], want["R"], atol=2e-3)
    assert np.abs(shown["R"] - other["R"]).max() > 0.01


def test_stylize_render_refuses_pass_flow_without_vector_pass(tmp_path: Path, models: tuple[str, str]) -> None:
    scene = build_scene()
    _settings(scene, models, tmp_path / "out")
    scene.render.engine = "BLENDER_WORKBENCH"
    with pytest.raises(RuntimeError, match="writes no Vector pass .* or choose DIS flow"):
        bpy.ops.fav.stylize_render()
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.exr"))


def test_frames_of_different_sizes_are_reported(tmp_path: Path, models: tuple[str, str]) -> None:
    scene, strip = _sequencer_scene(tmp_path, 3)
    odd = write_png_sequence(tmp_path / "footage", 1, h=20, w=30, prefix="odd_")  # next to the others
    strip.elements.append(odd[0].name)
    _settings(scene, models, tmp_path / "out")
    # the message names the artist's files, not the job's numbered links
    with pytest.raises(RuntimeError, match=r"footage/odd_0001\.png: is 30x20 but shot_0001\.png is 32x24"):
        bpy.ops.fav.stylize_strip()
    assert len(scene.sequence_editor.strips) == 2


def test_settings_to_config_mapping(tmp_path: Path) -> None:
    from fav_blender.preferences import HostPrefs

    bpy.ops.wm.read_factory_settings(use_empty=True)
    s = bpy.context.scene.fav_settings
    (tmp_path / "candy.safetensors").write_bytes(b"x")
    s.model, s.image_model = "candy", "self"
    s.flow, s.min_filter, s.median_filter = "DEEPFLOW", 3, 5
    s.fill, s.direction, s.device, s.precision, s.resume = "UNIFORM_RANDOM", "BACKWARD", "PREFS", "BF16", False
    opts = s.to_config(HostPrefs(model_dir=str(tmp_path), device="cuda"))
    assert opts.model == str((tmp_path / "candy.safetensors").resolve())
    assert (opts.image_model, opts.flow, opts.min_filter, opts.median_filter) == ("self", "deepflow", 3, 5)
    assert (opts.fill, opts.backward, opts.device, opts.precision, opts.resume) == (
        "uniform-random", True, "cuda", "bf16", False)
    assert s.to_cli_args(HostPrefs(model_dir=str(tmp_path)), flow="dis")[2:4] == ["--flow", "dis"]


def test_modal_path_steps_prepare_then_esc_cancels_cleanly(tmp_path: Path, models: tuple[str, str]) -> None:
    """The UI path without a UI: invoke -> TIMER events (one prepare unit each) -> core running, drained by
    the timer poller -> ESC -> the core stops after a whole frame -> CANCELLED with a warning."""
    import time
    from types import SimpleNamespace

    from fav_blender import jobs, session
    from fav_blender.options import StylizeOptions

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    n_frames = 30  # long enough (and 96x128) that the cancel lands before the core finishes on a quiet machine
    files = write_png_sequence(tmp_path / "clip", n_frames, h=96, w=128)
    out = tmp_path / "out"
    prepared: list[int] = []

    def prepare() -> Iterator[str]:
        for i in range(2):
            prepared.append(i)
            yield f"step {i}"

    spec = jobs.JobSpec(str(files[0].parent / "shot_%04d.png"), str(out / "stylized_%04d.png"),
                        StylizeOptions(model=models[0], image_model=models[1], median_filter=1))
    plan = session.Plan(scene.name, spec, finish=lambda r: "finished", prepare=prepare())

    class Op(session.JobOperator):
        def __init__(self) -> None:
            self.reports: list[tuple[set[str], str]] = []

        def interactive(self, context: Any) -> bool:
            return True

        def make_plan(self, context: Any) -> session.Plan:
            return plan

        def report(self, level: set[str], message: str) -> None:
            self.reports.append((level, message))

    op, wm, ws = Op(), FakeWindowManager(), FakeWorkspace()
    context = SimpleNamespace(window="win", window_manager=wm, workspace=ws)
    assert op.invoke(context, FakeEvent("INVOKE")) == {"RUNNING_MODAL"}
    assert wm.calls == ["progress_begin", "timer_add", "modal_handler_add"]
    assert op.modal(context, FakeEvent("MOUSEMOVE")) == {"PASS_THROUGH"}
    for _ in range(3):  # two prepare units, then the job starts
        assert op.modal(context, FakeEvent("TIMER")) == {"RUNNING_MODAL"}
    assert prepared == [0, 1] and op._job is not None
    result = None
    deadline = time.monotonic() + 120
    while result is None and time.monotonic() < deadline:
        op._tick()  # what bpy.app.timers would call on the main thread
        if scene.fav_settings.progress > 0 and not op._job.cancel_requested:
            assert op.modal(context, FakeEvent("ESC", "PRESS")) == {"RUNNING_MODAL"}
        result = op.modal(context, FakeEvent("TIMER"))
        result = None if result == {"PASS_THROUGH"} else result
        time.sleep(0.05)
    if bpy.app.timers.is_registered(op._tick):
        bpy.app.timers.unregister(op._tick)
    assert result == {"CANCELLED"}
    level, message = op.reports[-1]
    assert level == {"WARNING"} and message.startswith("cancelled after ")
    assert wm.calls[-2:] == ["timer_remove", "progress_end"]
    assert ws.texts[-1] is None and any("Esc cancels" in (t or "") for t in ws.texts)
    assert scene.fav_settings.running is False
    names = sorted(p.name for p in out.iterdir() if p.suffix == ".png")
    assert 1 <= len(names) < n_frames and not [p for p in out.iterdir() if ".tmp-" in p.name]
    assert names == [f"stylized_{i:04d}.png" for i in range(1, len(names) + 1)]
