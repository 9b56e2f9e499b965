"""fav_nuke.render against the fake nuke, with a fast stand-in for the core process.

The stand-in is an executable Python script used as the node's "core python": it is called exactly like the core
(``<python> -m fav_core.cli stylize ...``), records its arguments, checks the rendered plate, writes "stylized"
EXRs (half the plate) atomically, resumes, fails or waits for SIGTERM on request, and speaks the job protocol.
The real core runs in test_nuke_e2e.py.
"""
from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hosts" / "nuke"))

from fav_nuke.channels import VectorChannels  # noqa: E402

from fav_core.io.exr import read_exr_channels  # noqa: E402
from tests.hosts.fake_nuke import FakeNuke, install  # noqa: E402
from tests.hosts.fake_nuke.scene import BACKWARD, FORWARD, plate_rgb, write_plate  # noqa: E402

STAND_IN = textwrap.dedent('''\
    import json, os, re, signal, sys, time
    import numpy as np
    import OpenImageIO as oiio

    def ev(name, **f):
        print(json.dumps({"event": name, **f}), flush=True)

    args = sys.argv[1:]
    with open(os.environ["STANDIN_LOG"], "a") as log:
        log.write(json.dumps(args) + "\\n")
    assert args[:3] == ["-m", "fav_core.cli", "stylize"], args
    inp, out = args[3], args[args.index("-o") + 1]
    mode = os.environ.get("STANDIN_MODE", "ok")
    if mode == "error":
        ev("error", message=(inp % 1) + ": stand-in says the frame is broken", kind="InputError")
        sys.exit(2)
    def on_term(signum, frame):
        ev("cancelled", done=written)
        sys.exit(130)
    signal.signal(signal.SIGTERM, on_term)
    folder, name = os.path.split(inp)
    rx = re.compile("^" + re.escape(name).replace("%04d", "(\\\\d{4})") + "$")
    frames = sorted(int(m.group(1)) for m in map(rx.match, os.listdir(folder)) if m)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    done = [f for f in frames if os.path.exists(out % f)] if "--no-resume" not in args else []
    todo = [f for f in frames if f not in done]
    ev("start", total=len(todo), first=todo[0] if todo else None, last=frames[-1],
       resumed_from=todo[0] if done and todo else None, output=out)
    written = 0
    for f in todo:
        if mode == "slow" and written >= 1:
            time.sleep(60)
        buf = oiio.ImageBuf(inp % f)
        px = np.asarray(buf.get_pixels(oiio.FLOAT))
        spec = oiio.ImageSpec(buf.spec().width, buf.spec().height, 4, oiio.FLOAT)
        spec.channelnames = ("R", "G", "B", "A")
        tmp = out % f + ".tmp.exr"
        o = oiio.ImageOutput.create(tmp)
        o.open(tmp, spec)
        o.write_image(np.ascontiguousarray(px[..., :4] * np.array([0.5, 0.5, 0.5, 1.0], np.float32)))
        o.close()
        os.replace(tmp, out % f)
        written += 1
        ev("frame", done=written, total=len(todo), index=f, path=out % f, seconds=0.0)
    ev("done", written=written, output=out)
''')


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeNuke:
    monkeypatch.setenv("STANDIN_LOG", str(tmp_path / "standin.log"))
    monkeypatch.setenv("FAV_NUKE_SETTINGS", str(tmp_path / "settings.json"))
    monkeypatch.delenv("FAV_PYTHON", raising=False)
    return install(monkeypatch)


@pytest.fixture()
def core(tmp_path: Path) -> Path:
    exe = tmp_path / "standin-python"
    exe.write_text(f"#!{sys.executable}\n" + STAND_IN)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def make_node(fake: FakeNuke, tmp_path: Path, core: Path, frames: range = range(1, 4), **knobs: Any) -> Any:
    """A FastArtisticVideos node fed by a Read of a synthetic plate with Nuke motion vectors."""
    from fav_nuke.node import create_node

    pattern = write_plate(tmp_path / "src", frames)
    read = fake.module.nodes.Read(file=pattern, first=frames[0], last=frames[-1])
    fake.selected = read
    group = create_node()
    values = {"model": "tiny-video", "core_python": str(core), "output_folder": str(tmp_path / "job")}
    values.update(knobs)
    for name, value in values.items():
        group[name].setValue(value)
    return group


def calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "standin.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_stylize_renders_plate_runs_core_and_shows_result(fake: FakeNuke, tmp_path: Path, core: Path) -> None:
    group = make_node(fake, tmp_path, core)
    assert group["stylize"].execute() is None  # the button, as Nuke runs it (thisNode = group; no GUI: blocking)
    job = tmp_path / "job"

    # 1. the plate went through the internal Write: all frames, raw floats, vectors in the standard channels
    assert fake.executed == [("FavWrite", 1, 3, 1)]
    assert group.node("FavWrite")["disable"].value() is True
    ch = read_exr_channels(job / "plate" / "plate.0002.exr")
    assert set(ch) == {"R", "G", "B", "A", "backward.u", "backward.v", "forward.u", "forward.v"}
    np.testing.assert_allclose(np.stack([ch["R"], ch["G"], ch["B"]], -1), plate_rgb(2), rtol=0, atol=0)
    assert np.all(ch["backward.u"] == BACKWARD[0]) and np.all(ch["backward.v"] == -BACKWARD[1])  # y up
    assert np.all(ch["forward.u"] == FORWARD[0]) and np.all(ch["forward.v"] == -FORWARD[1])

    # 2. the core ran once, out of process, with the mapped arguments
    (args,) = calls(tmp_path)
    assert args[3:6] == [(job / "plate" / "plate.%04d.exr").as_posix(), "-o",
                         (job / "stylized" / "stylized.%04d.exr").as_posix()]
    assert args[args.index("--flow") + 1:args.index("--flow") + 4] == ["pass", "--vectors", "nuke"]
    assert args[-2:] == ["--progress", "json"]

    # 3. progress was shown, the Read points at the stylized frames and the node outputs them
    (task,) = fake.progress_tasks
    assert task.progress == [0, 33, 66, 100]
    assert task.messages[-1] == "frame 3 (3/3)"
    read = group.node("FavRead")
    assert read["file"].value() == (job / "stylized" / "stylized.%04d.exr").as_posix()
    assert [read[k].value() for k in ("first", "last", "origfirst", "origlast")] == [1, 3, 1, 3]
    assert read.reloads == 1 and group.node("FavSwitch")["which"].value() == 1
    out = fake.pixels(group, 2)
    np.testing.assert_allclose(np.stack([out["rgba.red"], out["rgba.green"], out["rgba.blue"]], -1),
                               plate_rgb(2) * 0.5, rtol=1e-6)
    assert fake.messages == []
    assert group["stylize"].enabled() and group["status"].value().startswith("stylized 1-3: wrote 3 frame(s)")
    assert json.loads((tmp_path / "settings.json").read_text()) == {"core_python": str(core)}


def test_vectors_input_with_custom_channels(fake: FakeNuke, tmp_path: Path, core: Path) -> None:
    custom = VectorChannels("mv.bx", "mv.by", "mv.fx", "mv.fy")
    group = make_node(fake, tmp_path, core, backward_u="mv.bx", backward_v="mv.by", forward_u="mv.fx",
                      forward_v="mv.fy")
    # the plate's own vectors are decoys: zero them by pointing the plate at a vector-less render
    group.input(0)["file"].setValue(write_plate(tmp_path / "bare", range(1, 4), vectors=None))
    vec = fake.module.nodes.Read(file=write_plate(tmp_path / "vec", range(1, 4), vectors=custom, rgb=False),
                                 first=1, last=3)
    group.setInput(1, vec)
    group["stylize"].execute()
    copy = group.node("FavVectors")
    assert copy.input(1) is group.node("vectors")
    ch = read_exr_channels(tmp_path / "job" / "plate" / "plate.0001.exr")
    assert np.all(ch["backward.u"] == -1) and np.all(ch["backward.v"] == 1)
    assert np.all(ch["forward.u"] == 1) and np.all(ch["forward.v"] == -1)
    np.testing.assert_array_equal(ch["R"], plate_rgb(1)[..., 0])  # colour still from the plate
    assert fake.messages == []


def test_missing_vector_channels_error_once_before_rendering(fake: FakeNuke, tmp_path: Path, core: Path) -> None:
    group = make_node(fake, tmp_path, core, forward_u="motion.x")
    group["stylize"].execute()
    assert fake.messages == [
        "FastArtisticVideos: Read1: no channel motion.x for the motion vectors (input 'plate'); set the vector "
        "channel knobs or choose a computed flow"]
    assert fake.executed == [] and calls(tmp_path) == []


def test_computed_flow_writes_rgba_only(fake: FakeNuke, tmp_path: Path, core: Path) -> None:
    group = make_node(fake, tmp_path, core, flow="DIS (computed)", frame_range="2-3")
    group["stylize"].execute()
    assert fake.executed == [("FavWrite", 2, 3, 1)]
    assert set(read_exr_channels(tmp_path / "job" / "plate" / "plate.0002.exr")) == {"R", "G", "B", "A"}
    (args,) = calls(tmp_path)
    assert args[args.index("--flow") + 1] == "dis" and "--vectors" not in args
    assert sorted(p.name for p in (tmp_path / "job" / "stylized").iterdir()) == ["stylized.0002.exr",
                                                                               "stylized.0003.exr"]


def test_shorter_range_removes_stale_plate_frames(fake: FakeNuke, tmp_path: Path, core: Path) -> None:
    group = make_node(fake, tmp_path, core)
    group["stylize"].execute()
    group["frame_range"].setValue("1-2")
    group["stylize"].execute()
    assert sorted(p.name for p in (tmp_path / "job" / "plate").iterdir()) == ["plate.0001.exr", "plate.0002.exr"]


def test_core_error_is_shown_once(fake: FakeNuke, tmp_path: Path, core: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_MODE", "error")
    group = make_node(fake, tmp_path, core)
    group["stylize"].execute()
    plate = (tmp_path / "job" / "plate" / "plate.0001.exr").as_posix()
    assert fake.messages == [f"FastArtisticVideos: {plate}: stand-in says the frame is broken"]
    assert group["status"].value() == f"error: {plate}: stand-in says the frame is broken"
    assert group["stylize"].enabled() and group.node("FavSwitch")["which"].value() == 0
    assert not (tmp_path / "settings.json").exists()


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("no_plate", "FastArtisticVideos: connect a plate to the 'plate' input"),
        ("no_model", "FastArtisticVideos: knob model: choose a video model"),
        ("bad_range", "FastArtisticVideos: frame range '1-3x2': stylization is recursive"),
        ("missing_file", "FastArtisticVideos: rendering the plate failed: Read1: Read error: "),
        ("no_core", "FastArtisticVideos: "),
        ("no_read", "FastArtisticVideos: internal node FavRead is missing; recreate the node from the menu"),
    ],
)
def test_boundary_errors_are_shown_once(fake: FakeNuke, tmp_path: Path, core: Path, setup: str,
                                        expected: str) -> None:
    group = make_node(fake, tmp_path, core)
    if setup == "no_plate":
        group.setInput(0, None)
    elif setup == "no_model":
        group["model"].setValue("")
    elif setup == "bad_range":
        group["frame_range"].setValue("1-3x2")
    elif setup == "missing_file":
        group["flow"].setValue("DIS (computed)")  # skip the channel check, fail inside nuke.execute
        (tmp_path / "src" / "plate.0002.exr").unlink()
    elif setup == "no_core":
        group["core_python"].setValue(str(tmp_path / "nowhere" / "python"))
    elif setup == "no_read":  # found missing only when the result is shown, after the core ran
        group.node("FavRead").setName("Renamed")
    group["stylize"].execute()
    assert len(fake.messages) == 1 and fake.messages[0].startswith(expected), fake.messages
    if setup == "no_core":
        assert "cannot start the core" in fake.messages[0]
    assert group["stylize"].enabled()


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM semantics")
def test_gui_cancel_then_resume(fake: FakeNuke, tmp_path: Path, core: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.module.env["gui"] = True
    monkeypatch.setenv("STANDIN_MODE", "slow")
    group = make_node(fake, tmp_path, core)
    fake.cancel_when = lambda task: bool(task.progress) and task.progress[-1] > 0  # Cancel after frame 1
    group["stylize"].execute()  # GUI: returns at once, the core runs in a worker thread
    threads = [t for t in threading.enumerate() if t.name == "fav-FastArtisticVideos"]
    assert len(threads) == 1
    assert not group["stylize"].enabled()  # no second run while one is going
    threads[0].join(timeout=30)
    assert not threads[0].is_alive()
    assert group["status"].value().startswith("stylizing")  # the finish waits for the main thread
    assert fake.run_main_thread_queue() == 1
    assert group["stylize"].enabled() and fake.messages == []
    assert group["status"].value() == "cancelled after 1 frame(s); press Stylize to resume"
    stylized = tmp_path / "job" / "stylized"
    assert sorted(p.name for p in stylized.iterdir()) == ["stylized.0001.exr"]  # whole frames only
    assert group.node("FavSwitch")["which"].value() == 0

    monkeypatch.setenv("STANDIN_MODE", "ok")
    fake.cancel_when = None
    fake.module.env["gui"] = False
    group["stylize"].execute()
    assert sorted(p.name for p in stylized.iterdir()) == [f"stylized.000{i}.exr" for i in (1, 2, 3)]
    assert fake.progress_tasks[-1].messages[1] == "resuming at frame 2"
    assert group.node("FavSwitch")["which"].value() == 1 and fake.messages == []


def test_cancelling_the_plate_render_is_not_an_error(fake: FakeNuke, tmp_path: Path, core: Path) -> None:
    """Cancel in nuke.execute's progress dialog raises RuntimeError('Cancelled'): no message, no core run."""
    group = make_node(fake, tmp_path, core)
    fake.cancel_execute_at = 2
    group["stylize"].execute()
    assert fake.messages == [] and calls(tmp_path) == []
    assert group["status"].value() == "plate render cancelled"
    assert group["stylize"].enabled() and group.node("FavWrite")["disable"].value() is True


def test_node_deleted_while_the_core_runs(fake: FakeNuke, tmp_path: Path, core: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """The artist deletes the node during a GUI run: the finish on the main thread neither raises nor nags."""
    fake.module.env["gui"] = True
    group = make_node(fake, tmp_path, core)
    group["stylize"].execute()
    (worker,) = [t for t in threading.enumerate() if t.name == "fav-FastArtisticVideos"]
    fake.module.delete(group)
    worker.join(timeout=30)
    assert fake.run_main_thread_queue() == 1
    assert fake.messages == []
    assert "FastArtisticVideos was deleted while stylizing" in caplog.text
