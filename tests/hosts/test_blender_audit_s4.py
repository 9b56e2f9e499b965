"""Hardening audit (session 4), real bpy: what an artist runs into must come back as one ``report`` line,
never as a Python traceback, and a failed modal run must leave no timer, progress counter or "running" flag."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
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

pytestmark = pytest.mark.host

addon = load_addon()


@pytest.fixture(scope="module", autouse=True)
def registered() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAV_CORE_MODE", "SUBPROCESS")
        addon.register()
        yield
        addon.unregister()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return write_models(tmp_path_factory.mktemp("models"))


def _one_line_error(excinfo: pytest.ExceptionInfo[RuntimeError]) -> str:
    """The operator's report (background mode turns an ERROR report into RuntimeError("Error: ...\\n"))."""
    text = str(excinfo.value)
    assert "Traceback" not in text and "Python:" not in text, text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def _image_strip_scene(name: str, files: list[Path], models: tuple[str, str], out: Path) -> Any:
    """A fresh scene whose active strip ``name`` shows ``files``, with the models and Output Folder set."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    se = scene.sequence_editor_create()
    strip = se.strips.new_image(name, str(files[0]), 1, 1)
    for f in files[1:]:
        strip.elements.append(f.name)
    se.active_strip = strip
    s = scene.fav_settings
    s.model, s.image_model = models
    s.output_dir = str(out)
    return scene


def _strip_scene(tmp_path: Path, models: tuple[str, str], out: Path) -> Any:
    return _image_strip_scene("Shot", write_png_sequence(tmp_path / "footage", 3), models, out)


def test_unwritable_output_folder_is_one_line_for_the_strip(tmp_path: Path, models: tuple[str, str]) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    scene = _strip_scene(tmp_path, models, tmp_path / "a_file" / "fav")
    with pytest.raises(RuntimeError) as excinfo:
        bpy.ops.fav.stylize_strip()
    line = _one_line_error(excinfo)
    assert line.startswith(f"Error: {tmp_path / 'a_file' / 'fav'}")
    assert "cannot create this folder (Not a directory); set Output Folder to a writable folder" in line
    assert len(scene.sequence_editor.strips) == 1
    assert scene.fav_settings.running is False


def test_unwritable_output_folder_is_one_line_for_the_render(tmp_path: Path, models: tuple[str, str]) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    scene = build_scene()
    s = scene.fav_settings
    s.model, s.image_model = models
    s.output_dir = str(tmp_path / "a_file" / "fav")
    with pytest.raises(RuntimeError) as excinfo:
        bpy.ops.fav.stylize_render()
    assert "cannot create this folder (Not a directory)" in _one_line_error(excinfo)
    assert scene.fav_settings.running is False


def test_a_failed_render_is_a_host_error(tmp_path: Path) -> None:
    from fav_blender import render
    from fav_blender.errors import HostError

    scene = build_scene()
    scene.camera = None  # e.g. the camera was deleted while the modal operator renders frame by frame
    with pytest.raises(HostError, match=r"render_0001\.exr: rendering frame 1 failed \(.*camera"):
        render.render_frame(scene, 1, tmp_path)


def test_modal_run_whose_preparation_fails_cleans_up(tmp_path: Path, models: tuple[str, str]) -> None:
    """A file-system error while preparing (rendering) in the UI path: one ERROR report, timer removed,
    progress ended, the panel's running flag cleared (the Stylize button would stay disabled otherwise)."""
    from fav_blender import jobs, session
    from fav_blender.options import StylizeOptions

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene

    def prepare() -> Iterator[str]:
        yield "rendered frame 1 (1/2)"
        raise PermissionError(13, "Permission denied", str(tmp_path / "render_0002.exr"))

    spec = jobs.JobSpec(str(tmp_path / "render_%04d.exr"), str(tmp_path / "stylized_%04d.exr"),
                        StylizeOptions(model=models[0]))
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
    assert op.modal(context, FakeEvent("TIMER")) == {"RUNNING_MODAL"}
    assert scene.fav_settings.running is True
    assert op.modal(context, FakeEvent("TIMER")) == {"CANCELLED"}
    assert op.reports == [({"ERROR"}, f"{tmp_path / 'render_0002.exr'}: Permission denied")]
    assert wm.calls[-2:] == ["timer_remove", "progress_end"]
    assert ws.texts[-1] is None
    assert scene.fav_settings.running is False
    assert op._job is None  # the core never started


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Frames 1-3 of the test scene at 48x32 as the extension renders them (multi-part EXR, Vector pass)."""
    from fav_blender import render

    scene = build_scene()
    scene.render.resolution_percentage = 50
    return render.render_frames(scene, range(1, 4), tmp_path_factory.mktemp("renders"))


def test_exr_header_names_match_the_core_reader(renders: list[Path], tmp_path: Path) -> None:
    from fav_blender.exrheader import exr_channel_names, has_vector_pass

    from fav_core.io import read_exr_channels

    names = exr_channel_names(renders[0])
    assert sorted(names) == sorted(read_exr_channels(renders[0]))  # every part of the multi-part file
    assert {"ViewLayer.Combined.R", "ViewLayer.Depth.Z", "ViewLayer.Vector.W"} <= set(names)
    assert has_vector_pass(names)
    assert not has_vector_pass(["ViewLayer.Combined.R", "ViewLayer.Vector.X", "ViewLayer.Vector.Y"])


@pytest.mark.parametrize(("content", "problem"), [
    (b"\x89PNG\r\n\x1a\n" + bytes(32), "not an OpenEXR file"),
    ("cut", "EXR header is truncated or damaged"),
])
def test_exr_header_bad_files_are_one_line(renders: list[Path], tmp_path: Path, content: object,
                                           problem: str) -> None:
    from fav_blender.errors import HostError
    from fav_blender.exrheader import exr_channel_names

    path = tmp_path / "bad.exr"
    path.write_bytes(renders[0].read_bytes()[:120] if content == "cut" else content)  # type: ignore[arg-type]
    with pytest.raises(HostError, match=f"bad.exr: {problem}"):
        exr_channel_names(path)


def _exr_strip_scene(renders: list[Path], models: tuple[str, str], out: Path) -> Any:
    scene = _image_strip_scene("Render", renders, models, out)
    s = scene.fav_settings
    s.median_filter = 1
    assert s.flow == "PASS"
    return scene


def test_strip_of_renders_with_vector_pass_uses_the_pass(renders: list[Path], models: tuple[str, str],
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """"Render Pass" on an image strip of multilayer EXR renders: the core gets --flow pass --vectors blender
    (not DIS with "footage has no Vector pass")."""
    from fav_blender import jobs
    from fav_blender.errors import HostError

    seen: list[jobs.JobSpec] = []

    def start(self: jobs.Job) -> jobs.Job:
        seen.append(self.spec)
        raise HostError("stopped by the test")

    scene = _exr_strip_scene(renders, models, tmp_path / "out")
    monkeypatch.setattr(jobs.Job, "start", start)
    with pytest.raises(RuntimeError, match="stopped by the test"):
        bpy.ops.fav.stylize_strip()
    assert seen[0].options.flow == "pass"
    args = seen[0].cli_args()
    assert args[args.index("--flow") + 1] == "pass" and args[args.index("--vectors") + 1] == "blender"
    assert seen[0].output.endswith("stylized_%05d.exr")
    scene.fav_settings.direction = "BACKWARD"  # the core takes the pass's other half (test_blender_vectors)
    with pytest.raises(RuntimeError, match="stopped by the test"):
        bpy.ops.fav.stylize_strip()
    assert seen[1].options.flow == "pass" and seen[1].options.backward
    scene.fav_settings.direction = "FORWARD"
    strip = scene.sequence_editor.active_strip
    strip.use_reverse_frames = True  # plays 3, 2, 1: the frame before is not the one the vectors point to
    with pytest.raises(RuntimeError, match="stopped by the test"):
        bpy.ops.fav.stylize_strip()
    assert seen[2].options.flow == "dis"
    strip.use_reverse_frames = False

    monkeypatch.undo()  # the real run: the core reads the vectors of the linked EXR frames
    assert bpy.ops.fav.stylize_strip() == {"FINISHED"}
    new = scene.sequence_editor.strips["Render stylized"]
    assert (new.frame_final_start, new.frame_final_duration) == (1, 3)


def test_strip_flow_without_vector_pass_falls_back_with_a_note(tmp_path: Path) -> None:
    from fav_blender.operators_sequencer import strip_flow

    from fav_core.io.exr import write_exr

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    files = [tmp_path / f"plain_{f:04d}.exr" for f in (1, 2)]
    for path in files:  # R, G, B only (a comp or a render saved without passes)
        write_exr(path, np.full((8, 8, 3), 0.5, np.float32))
    se = scene.sequence_editor_create()
    strip = se.strips.new_image("Plain", str(files[0]), 1, 1)
    strip.elements.append(files[1].name)
    assert strip_flow(strip) == ("dis", "strip 'Plain': its EXR frames have no Vector pass: using computed DIS flow")
    png = write_png_sequence(tmp_path / "png", 2)
    strip = se.strips.new_image("Footage", str(png[0]), 2, 1)
    assert strip_flow(strip) == ("dis", "footage has no Vector pass: using computed DIS flow")


def test_register_cycles_leave_no_handler_menu_entry_or_property(tmp_path: Path) -> None:
    from fav_blender import properties

    def menu_entries() -> tuple[int, int]:
        return tuple(len(getattr(bpy.types, m)._dyn_ui_initialize()) for m in ("SEQUENCER_MT_strip",
                                                                                 "TOPBAR_MT_render"))

    registered_state = (menu_entries(), list(bpy.app.handlers.load_post).count(properties.clear_run_state))
    assert registered_state[1] == 1
    addon.unregister()
    bare = (menu_entries(), len(bpy.app.handlers.load_post), hasattr(bpy.types.Scene, "fav_settings"))
    assert bare[2] is False and properties.clear_run_state not in bpy.app.handlers.load_post
    for _ in range(2):
        addon.register()
        assert (menu_entries(), list(bpy.app.handlers.load_post).count(properties.clear_run_state)) == \
            registered_state
        addon.unregister()
        assert (menu_entries(), len(bpy.app.handlers.load_post), hasattr(bpy.types.Scene, "fav_settings")) == bare
    addon.register()


def test_file_saved_during_a_run_opens_with_stylize_available(tmp_path: Path) -> None:
    from fav_blender.properties import INTERRUPTED

    bpy.ops.wm.read_factory_settings(use_empty=True)
    settings = bpy.context.scene.fav_settings
    settings.running, settings.progress, settings.status = True, 0.4, "stylized frame 4 (4/10)"
    path = tmp_path / "saved_mid_run.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    settings = bpy.context.scene.fav_settings
    assert (settings.running, settings.status) == (False, INTERRUPTED)
    assert bpy.ops.fav.stylize_strip.poll() and bpy.ops.fav.stylize_render.poll()


def test_a_second_run_of_the_same_scene_is_refused_by_poll() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.fav_settings.running = True  # e.g. started from the panel, now asked from the Render menu
    assert not bpy.ops.fav.stylize_strip.poll()
    assert not bpy.ops.fav.stylize_render.poll()
    with pytest.raises(RuntimeError, match="a stylization of this scene is running"):
        bpy.ops.fav.stylize_render()
    bpy.context.scene.fav_settings.running = False
    assert bpy.ops.fav.stylize_render.poll()


def test_blender_ending_the_modal_run_cleans_up(tmp_path: Path, models: tuple[str, str]) -> None:
    """``Operator.cancel`` (Blender ends the modal operator: file load, window closed) removes the timer, ends
    the progress display, clears the running flag and closes the preparation (restoring render settings)."""
    from fav_blender import jobs, session
    from fav_blender.options import StylizeOptions

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    closed: list[bool] = []

    def prepare() -> Iterator[str]:
        try:
            yield "rendered frame 1 (1/3)"
            yield "rendered frame 2 (2/3)"
        finally:
            closed.append(True)

    spec = jobs.JobSpec(str(tmp_path / "render_%04d.exr"), str(tmp_path / "stylized_%04d.exr"),
                        StylizeOptions(model=models[0]))
    plan = session.Plan(scene.name, spec, finish=lambda r: "finished", prepare=prepare())

    class Op(session.JobOperator):
        def interactive(self, context: Any) -> bool:
            return True

        def make_plan(self, context: Any) -> session.Plan:
            return plan

        def report(self, level: set[str], message: str) -> None:
            raise AssertionError("cancel() reports nothing")

    op, wm = Op(), FakeWindowManager()
    context = SimpleNamespace(window="win", window_manager=wm, workspace=FakeWorkspace())
    assert op.invoke(context, FakeEvent("INVOKE")) == {"RUNNING_MODAL"}
    assert op.modal(context, FakeEvent("TIMER")) == {"RUNNING_MODAL"}
    op.cancel(context)
    assert wm.calls[-2:] == ["timer_remove", "progress_end"]
    assert closed == [True]
    assert scene.fav_settings.running is False
    assert scene.fav_settings.status.startswith("interrupted: Blender ended the run")


def test_precision_defaults_to_auto_in_the_panel_and_the_batch(tmp_path: Path) -> None:
    from fav_blender import batch
    from fav_blender.preferences import HostPrefs

    bpy.ops.wm.read_factory_settings(use_empty=True)
    settings = bpy.context.scene.fav_settings
    settings.model = "candy"
    assert settings.precision == "AUTO"
    args = settings.to_cli_args(HostPrefs())
    assert args[args.index("--precision") + 1] == "auto"
    settings.precision = "FP16"
    assert settings.to_config(HostPrefs()).precision == "fp16"
    parsed = batch.build_parser().parse_args(["--model", "candy", "--out", str(tmp_path)])
    assert parsed.precision == "auto"


def test_stylized_layer_choice() -> None:
    from fav_blender.errors import HostError
    from fav_blender.render import stylized_layer

    scene = build_scene()
    assert stylized_layer(scene) == ("ViewLayer", "")
    scene.view_layers.new("Background")
    name, note = stylized_layer(scene, "Background")
    assert name == "Background" and note.startswith("only view layer 'Background' is stylized (the scene renders 2")
    scene.view_layers["Background"].use = False
    assert stylized_layer(scene, "Background") == ("ViewLayer", "")  # the current layer does not render
    with pytest.raises(HostError, match="has no view layer 'Nope' \\(it has 'ViewLayer', 'Background'\\)"):
        stylized_layer(scene, "Nope")
    scene.view_layers["ViewLayer"].use = False
    with pytest.raises(HostError, match="no view layer is enabled for rendering"):
        stylized_layer(scene)


def test_stylize_render_of_a_scene_with_two_view_layers_and_alpha(tmp_path: Path, models: tuple[str, str]) -> None:
    """Both layers used to be rendered with a Vector pass each, and the core refused the frames after the
    whole shot was rendered ("several Vector layers ... choose one with layer=")."""
    from fav_core.io import read_exr_channels

    scene = build_scene()
    scene.render.resolution_percentage = 50
    scene.frame_end = 2
    scene.view_layers.new("Background")
    scene.render.film_transparent = True  # and the quad over transparency: alpha is carried through
    bpy.data.objects["Backdrop"].hide_render = True
    s = scene.fav_settings
    s.model, s.image_model = models
    s.output_dir = str(tmp_path / "out")
    s.median_filter = 1
    assert bpy.ops.fav.stylize_render() == {"FINISHED"}
    render = read_exr_channels(next((tmp_path / "out").rglob("render_0002.exr")))
    assert {n.split(".")[0] for n in render} == {"ViewLayer"}
    assert [vl.use for vl in scene.view_layers] == [True, True]  # restored
    assert [vl.use_pass_vector for vl in scene.view_layers] == [False, False]
    alpha = render["ViewLayer.Combined.A"]
    assert 0.05 < float((alpha > 0.5).mean()) < 0.5 and float(alpha.min()) == 0.0
    stylized = read_exr_channels(next((tmp_path / "out").rglob("stylized_0002.exr")))
    np.testing.assert_allclose(stylized["A"], alpha, atol=1e-3)
    assert float(np.abs(stylized["R"][alpha == 0]).max()) == 0.0  # premultiplied: nothing where alpha is 0


def test_reversed_trimmed_image_strip_lines_up_frame_by_frame(tmp_path: Path, models: tuple[str, str]) -> None:
    """At every visible frame the stylized strip shows the stylization of the image the source shows (the
    input used to be the elements in file order, so a Reverse Frames strip came back playing forwards)."""
    scene = _strip_scene(tmp_path, models, tmp_path / "out")
    source = scene.sequence_editor.active_strip
    write_png_sequence(tmp_path / "footage", 5)  # shot_0001..5 (the strip holds 1..3)
    source.elements.append("shot_0004.png")
    source.elements.append("shot_0005.png")
    source.frame_offset_start, source.frame_offset_end = 1, 1  # visible: 3 of 5
    source.use_reverse_frames = True
    scene.fav_settings.median_filter = 1
    assert bpy.ops.fav.stylize_strip() == {"FINISHED"}
    new = scene.sequence_editor.strips["Shot stylized"]
    frames = range(source.frame_final_start, source.frame_final_end)
    assert (new.frame_final_start, new.frame_final_end) == (frames.start, frames.stop)
    inputs = sorted((tmp_path / "out").glob("*/input/frame_*.png"))
    shown = []
    for f in frames:
        k = int(Path(new.strip_elem_from_frame(f).filename).stem.split("_")[1])  # stylized_0000k
        shown.append((inputs[k - 1].resolve().name, source.strip_elem_from_frame(f).filename))
    assert shown == [("shot_0004.png", "shot_0004.png"), ("shot_0003.png", "shot_0003.png"),
                     ("shot_0002.png", "shot_0002.png")]


def test_reversed_trimmed_movie_strip_keeps_both_trims(tmp_path: Path, models: tuple[str, str]) -> None:
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
    strip.frame_offset_start, strip.frame_offset_end = 1, 2
    strip.use_reverse_frames = True
    se.active_strip = strip
    s = scene.fav_settings
    s.model, s.image_model = models
    s.output_dir = str(tmp_path / "out")
    s.median_filter = 1
    assert bpy.ops.fav.stylize_strip() == {"FINISHED"}
    new = se.strips["Clip stylized"]
    assert len(new.elements) == 6  # the whole movie: the tail plays first
    assert (new.frame_final_start, new.frame_final_end) == (strip.frame_final_start, strip.frame_final_end)
    assert (new.frame_offset_start, new.frame_offset_end, new.use_reverse_frames) == (1, 2, True)
    # reversed, 1 hidden at the head: the first visible frame is movie frame 5 of 6, as in the source (same
    # content length, trims and flag give Blender's same frame mapping)
    assert new.strip_elem_from_frame(new.frame_final_start).filename == "stylized_00005.png"


def test_same_frames_rule() -> None:
    from fav_blender.inputstamp import same_frames

    a, b, c = ["a.png", 10, 1], ["b.png", 10, 2], ["c.png", 10, 3]
    old = {"source": "images", "files": [a, b]}
    assert same_frames(old, {"source": "images", "files": [a, b, c]})  # frames added at the end
    assert same_frames(old, {"source": "images", "files": [a]})  # the tail trimmed off
    assert not same_frames(old, {"source": "images", "files": [b, c]})  # slipped / re-trimmed at the head
    assert not same_frames(old, {"source": "images", "files": [a, ["b.png", 11, 4]]})  # b re-rendered
    assert not same_frames(None, {"source": "images", "files": [a]})  # no record: cannot tell
    assert not same_frames({"source": ["m.mp4", 5, 1], "files": []}, {"source": ["m.mp4", 6, 2], "files": []})
    from fav_blender.inputstamp import options_key, restart_reason
    from fav_blender.options import StylizeOptions

    opts = StylizeOptions(model="candy")
    key = options_key(opts)
    assert key == options_key(StylizeOptions(model="candy", resume=False, num_frames=7))  # not pixel settings
    assert key != options_key(StylizeOptions(model="candy", median_filter=5))
    new = {"source": "images", "files": [a, b], "options": key}
    assert restart_reason({**old, "options": key}, new) == ""
    assert restart_reason({**old, "options": options_key(StylizeOptions(model="other"))}, new) == \
        "the settings changed since it was last stylized"
    assert restart_reason(None, new).startswith("the frames already stylized there have no record")


@pytest.mark.slow  # three runs of the core: ~8 s here
def test_re_trimmed_strip_is_stylized_again_not_resumed(tmp_path: Path, models: tuple[str, str]) -> None:
    """The job links the visible images to the same numbered names every run; after a slip the core used to
    resume ("0 frames stylized") and the new strip showed the stylization of the old images."""
    scene = _strip_scene(tmp_path, models, tmp_path / "out")
    source = scene.sequence_editor.active_strip
    write_png_sequence(tmp_path / "footage", 4)
    source.elements.append("shot_0004.png")
    source.frame_offset_end = 1  # shows shot 1..3
    scene.fav_settings.median_filter = 1
    assert bpy.ops.fav.stylize_strip() == {"FINISHED"}
    out = next((tmp_path / "out").glob("*/stylized"))
    first = {p.name: p.read_bytes() for p in out.glob("stylized_*.png")}
    assert sorted(first) == [f"stylized_0000{i}.png" for i in (1, 2, 3)]
    source.frame_offset_start, source.frame_offset_end = 1, 0  # now shows shot 2..4
    assert bpy.ops.fav.stylize_strip() == {"FINISHED"}
    assert scene.fav_settings.status.startswith("added strip")
    second = {p.name: p.read_bytes() for p in out.glob("stylized_*.png")}
    assert all(second[name] != first[name] for name in first)
    # another setting, Resume still on: the core alone stops with "use --no-resume" (a flag the artist never
    # sees); the host starts over instead
    scene.fav_settings.min_filter = 3
    assert bpy.ops.fav.stylize_strip() == {"FINISHED"}
    third = {p.name: p.read_bytes() for p in out.glob("stylized_*.png")}
    assert third["stylized_00001.png"] == second["stylized_00001.png"]  # frame 1 has no prior to filter
    assert third["stylized_00002.png"] != second["stylized_00002.png"]
    assert third["stylized_00003.png"] != second["stylized_00003.png"]


def test_stylize_render_that_renders_again_does_not_resume(tmp_path: Path, models: tuple[str, str],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    from fav_blender import jobs
    from fav_blender.errors import HostError
    from fav_blender.operators_compositor import RERENDER_NOTE

    seen: list[jobs.JobSpec] = []

    def start(self: jobs.Job) -> jobs.Job:
        seen.append(self.spec)
        raise HostError("stopped by the test")

    monkeypatch.setattr(jobs.Job, "start", start)
    scene = build_scene()
    scene.render.resolution_percentage = 25
    scene.frame_end = 2
    s = scene.fav_settings
    s.model, s.image_model = models
    s.output_dir = str(tmp_path / "out")
    with pytest.raises(RuntimeError, match="stopped by the test"):
        bpy.ops.fav.stylize_render()  # nothing stylized yet: resume as set
    assert seen[-1].options.resume is True
    out = Path(seen[-1].output).parent
    (out / "stylized_0001.exr").write_bytes(b"a frame of the earlier run")
    with pytest.raises(RuntimeError, match="stopped by the test"):
        bpy.ops.fav.stylize_render()  # renders again: the earlier frame is of the old renders
    assert seen[-1].options.resume is False
    assert "--no-resume" in seen[-1].cli_args()
    assert f"Warning: {RERENDER_NOTE} (turn on Reuse Renders" in capfd.readouterr().out
    s.reuse_renders = True  # the renders stay: an interrupted run continues
    with pytest.raises(RuntimeError, match="stopped by the test"):
        bpy.ops.fav.stylize_render()
    assert seen[-1].options.resume is True
    assert RERENDER_NOTE not in capfd.readouterr().out
    s.min_filter = 3  # ... unless the settings changed
    with pytest.raises(RuntimeError, match="stopped by the test"):
        bpy.ops.fav.stylize_render()
    assert seen[-1].options.resume is False
    assert "Warning: scene 'Scene': the settings changed since it was last stylized: starting over" in \
        capfd.readouterr().out


def test_job_folders_of_different_strips_never_coincide() -> None:
    from fav_blender.paths import job_name

    assert job_name("Scene", "Shot", "/models/tiny-video.safetensors") == "Scene_Shot_tiny-video"
    assert job_name("Scene", "ショット", "candy") == "Scene_ショット_candy"  # any script's letters stay
    pairs = [("Shot A", "Shot-A"), ("Shot/1", "Shot:1"), ("A B", "A  B"), ("", "-")]
    for a, b in pairs:
        assert job_name("Scene", a, "candy") != job_name("Scene", b, "candy"), (a, b)
    for name in ("Shot A", "Shot/1", "x:y*z?", "..", "a\\\\b"):
        folder = job_name("Scene", name, "candy")
        assert not set('/\\\\:*?"<>| ') & set(folder), folder
        assert folder.strip(".") == folder


def test_esc_while_rendering_restores_the_render_settings(tmp_path: Path, models: tuple[str, str]) -> None:
    """The UI path of Stylize Render, cancelled after one of three frames: the artist's output settings and
    passes are back, the frame rendered is kept, and the core never started."""
    from fav_blender import session
    from fav_blender.operators_compositor import FAV_OT_stylize_render

    scene = build_scene()
    scene.render.resolution_percentage = 25
    scene.frame_set(2)
    s = scene.fav_settings
    s.model, s.image_model = models
    s.output_dir = str(tmp_path / "out")
    before = (scene.render.filepath, scene.render.image_settings.media_type, scene.render.use_compositing,
              scene.view_layers[0].use_pass_vector, scene.frame_current)

    class Op(session.JobOperator):
        make_plan = FAV_OT_stylize_render.make_plan

        def __init__(self) -> None:
            self.reports: list[tuple[set[str], str]] = []

        def interactive(self, context: Any) -> bool:
            return True

        def report(self, level: set[str], message: str) -> None:
            self.reports.append((level, message))

    op, wm = Op(), FakeWindowManager()
    context = SimpleNamespace(window="win", window_manager=wm, workspace=FakeWorkspace(), scene=scene,
                              view_layer=scene.view_layers[0], preferences=bpy.context.preferences)
    assert op.invoke(context, FakeEvent("INVOKE")) == {"RUNNING_MODAL"}
    assert op.modal(context, FakeEvent("TIMER")) == {"RUNNING_MODAL"}  # renders frame 1
    assert scene.view_layers[0].use_pass_vector is True  # while rendering
    assert op.modal(context, FakeEvent("ESC", "PRESS")) == {"CANCELLED"}
    assert op.reports[-1] == ({"WARNING"}, "cancelled before stylizing; rendered frames are kept")
    after = (scene.render.filepath, scene.render.image_settings.media_type, scene.render.use_compositing,
             scene.view_layers[0].use_pass_vector, scene.frame_current)
    assert after == before
    assert [p.name for p in (tmp_path / "out").rglob("render_*.exr")] == ["render_0001.exr"]
    assert op._job is None and scene.fav_settings.running is False
