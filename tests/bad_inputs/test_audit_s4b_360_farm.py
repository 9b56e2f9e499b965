"""Audit s4b of ``fav stylize-360`` and ``fav farm``: one-line errors, no lost work, settings kept on re-runs."""
from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import assert_one_line_error, make_clip

Fav = Callable[..., tuple[int, str]]


def farm_args(inp: str, out: Path, models: tuple[str, str], *extra: str) -> list[str]:
    return ["farm", inp, "-o", str(out), "--workers", "1", "--model", models[0], "--image-model", models[1],
            "--flow-preset", "ultrafast", "--progress", "none", *extra]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("address", ["bogus", "127.0.0.1", "host:99999", "ray://"])
def test_farm_malformed_address_is_one_line(tmp_path: Path, models: tuple[str, str], fav: Fav, address: str) -> None:
    pytest.importorskip("ray")
    inp = make_clip(tmp_path / "in", n=2)
    rc, err = fav(*farm_args(inp, tmp_path / "out", models, "--address", address))
    assert_one_line_error(rc, err, f"--address {address}", "HOST:PORT")
    assert not (tmp_path / "out").exists()


def test_farm_address_where_nothing_listens_fails_fast(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    """Ray retried the connection for minutes (the run hung); now one line within seconds."""
    pytest.importorskip("ray")
    inp = make_clip(tmp_path / "in", n=2)
    address = f"127.0.0.1:{closed_port()}"
    t0 = time.monotonic()
    rc, err = fav(*farm_args(inp, tmp_path / "out", models, "--address", address))
    assert time.monotonic() - t0 < 30
    assert_one_line_error(rc, err, f"--address {address}", "no Ray cluster answers")


def test_farm_shots_carry_absolute_paths(tmp_path: Path, models: tuple[str, str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers of a cluster given by --address run in their own folder: relative inputs, outputs, flow
    folders and model files failed there ('folder shotA does not exist')."""
    import shutil

    from fav_core.cli.farm import shot_specs
    from fav_core.cli.main import build_parser

    make_clip(tmp_path / "shotA", n=2)
    shutil.copy(models[0], tmp_path / "video.safetensors")
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["farm", "shotA/frame_%04d.png", "-o", "out/", "--model", "video.safetensors",
                                      "--image-model", "self", "--flow-dir", "flows"])
    (spec,) = shot_specs(args)
    assert spec.input == str(tmp_path / "shotA" / "frame_%04d.png")
    assert spec.output == str(tmp_path / "out") + "/" and spec.root == str(tmp_path / "out")
    assert spec.flow_dir == str(tmp_path / "flows")
    assert spec.config.model == str(tmp_path / "video.safetensors") and spec.config.image_model == "self"


def _specs(tmp_path: Path, *extra: str) -> list[object]:
    from fav_core.cli.farm import shot_specs
    from fav_core.cli.main import build_parser

    return shot_specs(build_parser().parse_args(["farm", str(tmp_path / "in" / "frame_%04d.png"), "-o",
                                                 str(tmp_path / "out"), *extra]))


def test_farm_rerun_with_other_settings_is_refused(tmp_path: Path) -> None:
    """A re-run keeps the frames already there: with another look (here --median-filter) the shot mixed two
    looks silently; now the settings are recorded and a change is one line naming the setting."""
    from fav_core.errors import ConfigError

    make_clip(tmp_path / "in", n=3)
    _specs(tmp_path)
    assert (tmp_path / "out" / ".fav-state" / "settings.json").is_file()
    _specs(tmp_path, "--num-frames", "2")  # the same look: fine (fills in what is missing)
    with pytest.raises(ConfigError, match=r"median_filter=3.*asks for 1.*--no-resume"):
        _specs(tmp_path, "--median-filter", "1")
    with pytest.raises(ConfigError, match=r"warmup=10, this run asks for 2"):
        _specs(tmp_path, "--warmup", "2")


def test_farm_no_resume_removes_the_earlier_frames_and_flows_only(tmp_path: Path) -> None:
    make_clip(tmp_path / "in", n=3)
    _specs(tmp_path)
    out, flow = tmp_path / "out", tmp_path / "out" / "flow"
    flow.mkdir()
    for name in ("frame_00001.png", "frame_00003.png", "notes.txt", "frame_00099.png"):
        (out / name).write_text("x")
    for name in ("backward_2_1.flo", "reliable_3_2.pgm", "backward_9_8.flo"):
        (flow / name).write_text("x")
    _specs(tmp_path, "--median-filter", "1", "--no-resume")
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == ["frame_00099.png", "notes.txt"]
    assert sorted(p.name for p in flow.iterdir()) == ["backward_9_8.flo"]
    _specs(tmp_path, "--median-filter", "1")  # the new settings are the record now


# ---------------------------------------------------------------------------------------------- stylize-360
def equirect_clip(folder: Path, n: int = 2, w: int = 64, h: int = 32, *, exr: bool = False,
                  alpha: bool = False, bright: bool = False) -> str:
    """Frames of the rotating synthetic scene (EXR: scene-linear, premultiplied by a left-quarter-clear alpha)."""
    import numpy as np

    from fav_core.io import srgb_to_linear, write_exr
    from fav_core.spherical.synthetic import rotating_scene

    from .conftest import write_image

    folder.mkdir(parents=True, exist_ok=True)
    for t in range(1, n + 1):
        rgb = rotating_scene(w, h, t - 1)
        if not exr:
            write_image(folder / f"frame_{t:04d}.png", np.round(rgb * 255).astype(np.uint8))
            continue
        lin = srgb_to_linear(rgb)
        if bright:
            lin[:2, -2:] = 4.0  # in the opaque part
        a = np.ones((h, w), np.float32)
        a[:, : w // 4] = 0.0
        a[:, w // 4: w // 4 + 4] = 0.5
        write_exr(folder / f"frame_{t:04d}.exr", lin * a[..., None], alpha=a if alpha else None)
    return str(folder / ("frame_%04d.exr" if exr else "frame_%04d.png"))


def s360(inp: str, out: str, models: tuple[str, str], *extra: str) -> list[str]:
    return ["stylize-360", inp, "-o", out, "--model", models[0], "--image-model", models[1], "--flow-preset",
            "ultrafast", "--progress", "none", *extra]


def test_360_fps_for_a_video_made_from_images(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    """The video sink's warning told users to pass --fps, which stylize-360 did not have."""
    from fractions import Fraction

    import av

    inp = equirect_clip(tmp_path / "in")
    rc, err = fav(*s360(inp, str(tmp_path / "out.mp4"), models, "--fps", "25"))
    assert rc == 0, err
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert Fraction(c.streams.video[0].average_rate) == 25 and c.streams.video[0].frames == 2


def test_360_tiny_equirect_is_one_line_naming_it(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = equirect_clip(tmp_path / "in", w=8, h=4)
    rc, err = fav(*s360(inp, str(tmp_path / "out"), models))
    assert_one_line_error(rc, err, inp, "8x4", "--cube-edge")
    assert not (tmp_path / "out").exists()


def test_360_report_path_is_checked_before_any_frame(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    """A folder as --evaluate failed only after the last frame was stylized."""
    inp = equirect_clip(tmp_path / "in")
    (tmp_path / "reports").mkdir()
    rc, err = fav(*s360(inp, str(tmp_path / "out"), models, "--evaluate", str(tmp_path / "reports")))
    assert_one_line_error(rc, err, "reports", "is a folder")
    assert not (tmp_path / "out").exists()


def test_360_exr_alpha_is_the_picture_over_black_with_one_warning(
    tmp_path: Path, models: tuple[str, str], fav: Fav, caplog: pytest.LogCaptureFixture
) -> None:
    """Alpha cannot go into the spherical outputs: the colour was unpremultiplied (semi-transparent edges
    brightened, an info line per frame); now it is stylized as stored, as `fav stylize --alpha ignore` does."""
    import numpy as np

    from fav_core.io import open_frames

    with_alpha = equirect_clip(tmp_path / "a", exr=True, alpha=True)
    without = equirect_clip(tmp_path / "b", exr=True, alpha=False)
    caplog.set_level("INFO")
    rc, err = fav(*s360(with_alpha, str(tmp_path / "oa" / "frame_%04d.exr"), models))
    assert rc == 0, err
    warnings = [r for r in caplog.records if "alpha" in r.getMessage() and r.levelname == "WARNING"]
    assert len(warnings) == 1 and "over black" in warnings[0].getMessage()
    caplog.clear()
    rc, err = fav(*s360(without, str(tmp_path / "ob" / "frame_%04d.exr"), models))
    assert rc == 0, err
    assert not [r for r in caplog.records if "not opaque" in r.getMessage()]
    for t in (1, 2):
        a = open_frames(str(tmp_path / "oa" / "frame_%04d.exr")).read(t)
        b = open_frames(str(tmp_path / "ob" / "frame_%04d.exr")).read(t)
        assert a.alpha is None and np.array_equal(a.rgb, b.rgb)


def test_360_opaque_alpha_says_nothing(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                       caplog: pytest.LogCaptureFixture) -> None:
    """Blender's Combined pass always has an A channel; 1 everywhere is no reason for a warning."""
    import numpy as np

    from fav_core.io import write_exr

    (tmp_path / "in").mkdir()
    for t in (1, 2):
        write_exr(tmp_path / "in" / f"frame_{t:04d}.exr", np.full((32, 64, 3), 0.2, np.float32),
                  alpha=np.ones((32, 64), np.float32))
    rc, err = fav(*s360(str(tmp_path / "in" / "frame_%04d.exr"), str(tmp_path / "out" / "frame_%04d.exr"), models))
    assert rc == 0, err
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_360_exr_highlights_warn_like_stylize(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                              caplog: pytest.LogCaptureFixture) -> None:
    inp = equirect_clip(tmp_path / "in", exr=True, bright=True)
    rc, err = fav(*s360(inp, str(tmp_path / "out" / "frame_%04d.exr"), models, "--num-frames", "1"))
    assert rc == 0, err
    assert [r.levelname for r in caplog.records if "brighter than 1.0" in r.getMessage()] == ["WARNING"]


def test_360_resumed_evaluation_reports_every_frame(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A resumed run's report held only the frames it stylized itself (summary over those); now the earlier
    frames' numbers come from the run state and the report equals an uninterrupted run's."""
    import json

    inp = equirect_clip(tmp_path / "in", n=3)
    assert fav(*s360(inp, str(tmp_path / "full"), models, "--evaluate", str(tmp_path / "full.json")))[0] == 0
    split = tmp_path / "split"
    assert fav(*s360(inp, str(split), models, "--num-frames", "2", "--evaluate", str(tmp_path / "a.json")))[0] == 0
    assert fav(*s360(inp, str(split), models, "--evaluate", str(tmp_path / "b.json")))[0] == 0
    full, resumed = (json.loads((tmp_path / n).read_text()) for n in ("full.json", "b.json"))
    assert [f["frame"] for f in resumed["frames"]] == [1, 2, 3]
    assert resumed["frames"] == full["frames"] and resumed["summary"] == full["summary"]
    # an earlier part without --evaluate: named, not silently averaged away
    plain = tmp_path / "plain"
    assert fav(*s360(inp, str(plain), models, "--num-frames", "2"))[0] == 0
    caplog.clear()
    assert fav(*s360(inp, str(plain), models, "--evaluate", str(tmp_path / "c.json")))[0] == 0
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["settings"]["frames_not_evaluated"] == [1, 2] and report["summary"]["frames"] == 1
    assert any("no numbers for 2 frame(s)" in r.getMessage() for r in caplog.records)


def test_360_cubemap_named_like_a_file_is_refused(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    """``--out-cubemap cm.png`` made a folder named ``cm.png`` holding frame_00001.png ... (surprising, and
    the help says PATTERN); a plain folder name still works."""
    inp = equirect_clip(tmp_path / "in", n=2)
    rc, err = fav(*s360(inp, str(tmp_path / "out"), models, "--out-cubemap", "cm.png"))
    assert_one_line_error(rc, err, "--out-cubemap cm.png", "frame placeholder")
    assert not (tmp_path / "out").exists()
    rc, err = fav(*s360(inp, str(tmp_path / "one"), models, "--out-cubemap", "strips"))
    assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "one" / "strips").iterdir()) == ["frame_00001.png", "frame_00002.png"]


@pytest.mark.parametrize(("w", "h", "warned"), [(64, 32, False), (66, 32, False), (64, 36, True), (96, 16, True)])
def test_360_equirect_not_2_to_1_warns(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                       caplog: pytest.LogCaptureFixture, w: int, h: int, warned: bool) -> None:
    """A 16:9 flat clip was stretched over the sphere without a word."""
    inp = equirect_clip(tmp_path / "in", n=1, w=w, h=h)
    rc, err = fav(*s360(inp, str(tmp_path / "out"), models))
    assert rc == 0, err
    hits = [r for r in caplog.records if "is not an equirect's 2:1" in r.getMessage()]
    assert len(hits) == int(warned) and all(r.levelname == "WARNING" and f"{w}x{h}" in r.getMessage() for r in hits)


class Events:
    """A progress reporter that keeps its events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []
        self.closed = False

    def start(self, total: int, **kw: object) -> None:
        self.events.append(("start", {"total": total, **kw}))

    def frame(self, done: int, total: int, index: int, path: object) -> None:
        self.events.append(("frame", {"done": done}))

    def event(self, name: str, **kw: object) -> None:
        self.events.append((name, kw))

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("failure", ["interrupt", "input"])
def test_farm_failures_reach_the_progress_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 failure: str) -> None:
    """--progress json got no 'cancelled' / 'error' event from fav farm (stylize sends them), and Ctrl-C was a
    bare 'fav: cancelled'."""
    import fav_core.farm.ray_runner as runner
    from fav_core.cli import farm
    from fav_core.cli.main import build_parser
    from fav_core.errors import Cancelled, InputError

    def fake_run_farm(specs: object, *, on_task: Callable[..., None], **kw: object) -> None:
        on_task("flow", None, 1, 3)
        if failure == "interrupt":
            raise KeyboardInterrupt
        raise InputError("/shots/a/frame_0002.png", "damaged")

    monkeypatch.setattr(runner, "run_farm", fake_run_farm)
    make_clip(tmp_path / "in", n=3)
    args = build_parser().parse_args(["farm", str(tmp_path / "in" / "frame_%04d.png"), "-o", str(tmp_path / "out"),
                                      "--progress", "json"])
    events = Events()
    expected = Cancelled if failure == "interrupt" else InputError
    with pytest.raises(expected) as info:
        farm.run(args, events)
    name, fields = events.events[-1]
    assert events.closed
    if failure == "interrupt":
        assert name == "cancelled" and "1 of 3 tasks done" in str(fields["message"])
        assert "fills in the rest" in str(info.value)
    else:
        assert name == "error" and fields["kind"] == "InputError"


def test_360_missing_face_flow_file_is_found_before_the_first_frame(tmp_path: Path, models: tuple[str, str],
                                                                    fav: Fav) -> None:
    """--flow files: frame 1 was stylized and written, then the run stopped at the first missing file."""
    import numpy as np

    from fav_core.cli.stylize_360 import default_geometry
    from fav_core.flow.io import write_flo

    inp = equirect_clip(tmp_path / "in", n=3)
    edge = default_geometry(64, None, None).edge
    for face in range(1, 7):
        folder = tmp_path / f"flow-{face}"
        folder.mkdir()
        for cur in (2, 3):
            if face == 4 and cur == 3:
                continue  # the one missing file
            write_flo(folder / f"backward_{cur}_{cur - 1}.flo", np.zeros((edge, edge, 2), np.float32))
            (folder / f"reliable_{cur}_{cur - 1}.pgm").write_bytes(
                b"P5\n%d %d\n255\n" % (edge, edge) + b"\xff" * (edge * edge))
    out = tmp_path / "out"
    rc, err = fav(*s360(inp, str(out), models, "--flow", "files",
                        "--flow-pattern", str(tmp_path / "flow-%d" / "backward_[%d]_{%d}.flo"),
                        "--occlusions-pattern", str(tmp_path / "flow-%d" / "reliable_[%d]_{%d}.pgm")))
    assert_one_line_error(rc, err, "flow-4", "backward_3_2.flo")
    assert not any(out.glob("*.png"))


def test_360_loss_network_hints_name_the_eval_options(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The loss network's errors told stylize-360 users to pass --loss-weights, which only fav evaluate has."""
    import fav_core.lossnet as lossnet
    from fav_core.errors import ModelLoadError

    def offline(*args: object, **kw: object) -> None:
        raise ModelLoadError("https://example.invalid/vgg16.pth", "cannot download VGG-16 weights (offline); pass "
                             "--loss-weights PATH or use --loss-network random-multiscale")

    monkeypatch.setattr(lossnet, "make_loss_network", offline)
    inp = equirect_clip(tmp_path / "in")
    rc, err = fav(*s360(inp, str(tmp_path / "out"), models, "--evaluate", str(tmp_path / "r.json"),
                        "--eval-loss-network", "vgg16"))
    line = assert_one_line_error(rc, err, "--eval-loss-weights PATH", "--eval-loss-network random-multiscale")
    assert " --loss-" not in line
    assert not (tmp_path / "out").exists()


def test_farm_shots_listed_in_another_order_are_refused(tmp_path: Path) -> None:
    """Same-named shots get plate, plate_2 in the order given; a re-run in another order would have kept one
    shot's frames for the other (and --no-resume, which the generic message suggested, would delete them)."""
    from fav_core.cli.farm import shot_specs
    from fav_core.cli.main import build_parser
    from fav_core.errors import ConfigError

    a = make_clip(tmp_path / "a" / "plate", n=2)
    b = make_clip(tmp_path / "b" / "plate", n=2)
    out = str(tmp_path / "out")
    first = shot_specs(build_parser().parse_args(["farm", a, b, "-o", out]))
    assert [Path(s.output).name for s in first] == ["plate", "plate_2"]
    shot_specs(build_parser().parse_args(["farm", a, b, "-o", out]))  # the same order: fine
    with pytest.raises(ConfigError, match=r"out/plate: holds the frames of .*/a/plate/.*list them as before"):
        shot_specs(build_parser().parse_args(["farm", b, a, "-o", out]))


@pytest.mark.parametrize(("option", "value", "needle"), [
    ("--num-frames", "0", "--num-frames must be an integer >= 1, got 0"),  # was: exit 0, nothing done
    ("--num-frames", "-2", "--num-frames must be an integer >= 1, got -2"),  # was: all but the last 2 frames
    ("--flow-group", "0", "--flow-group must be an integer >= 1, got 0"),  # was: silently the chunk size
    ("--flow-group", "-1", "--flow-group must be an integer >= 1, got -1"),  # was: 'flow group size ...'
    ("--max-retries", "-1", "--max-retries must be an integer >= 0"),
    ("--chunk-size", "0", "--chunk-size must be an integer >= 1"),
    ("--gpus-per-task", "-1", "--gpus-per-task must be >= 0"),
])
def test_farm_numbers_are_checked_before_anything_starts(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                                         option: str, value: str, needle: str) -> None:
    inp = make_clip(tmp_path / "in", n=3)
    rc, err = fav(*farm_args(inp, tmp_path / "out", models, option, value))
    assert_one_line_error(rc, err, needle)
    assert not (tmp_path / "out").exists()


def test_360_backward_is_refused_with_a_reason(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    """Was argparse's usage line plus 'unrecognized arguments: --backward' (fav stylize has the option)."""
    inp = equirect_clip(tmp_path / "in")
    rc, err = fav(*s360(inp, str(tmp_path / "out"), models, "--backward"))
    assert_one_line_error(rc, err, "--backward", "forward only")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("out", "ext"), [("eq/frame_%04d.exr", "exr"), ("eq", "exr"), ("eq/frame_%04d.png", "png"),
                                          ("eq.mp4", "exr")])
def test_360_default_cubemap_keeps_the_equirect_format(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                                       out: str, ext: str) -> None:
    """Scene-linear EXR input: the default cube map was an 8-bit PNG next to EXR equirect frames."""
    inp = equirect_clip(tmp_path / "in", exr=True)
    rc, err = fav(*s360(inp, str(tmp_path / "o" / out), models, "--out-cubemap"))
    assert rc == 0, err
    folder = tmp_path / "o" / ("." if out.endswith(".mp4") else "eq") / "cubemap"
    assert sorted(p.name for p in folder.iterdir()) == [f"frame_0000{t}.{ext}" for t in (1, 2)]


def test_farm_warns_about_exr_highlights_like_stylize(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The workers read the frames without the first-frame checks and their logs never reach the user: a plate
    with highlights above 1.0 came out clipped without the warning fav stylize gives."""
    inp = equirect_clip(tmp_path / "in", exr=True, bright=True)
    from fav_core.cli.farm import shot_specs
    from fav_core.cli.main import build_parser

    shot_specs(build_parser().parse_args(["farm", inp, "-o", str(tmp_path / "out")]))
    assert [r.levelname for r in caplog.records if "brighter than 1.0" in r.getMessage()] == ["WARNING"]


def test_360_out_equi_too_large_for_memory_is_one_line(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo such as --out-equi 30000x15000 ended in numpy's _ArrayMemoryError traceback."""
    import fav_core.spherical.projection as projection

    def no_memory(*args: object, **kw: object) -> None:
        raise MemoryError("Unable to allocate 3.35 GiB for an array with shape (15000, 30000)")

    monkeypatch.setattr(projection.CubeToEquirect, "__init__", no_memory)
    inp = equirect_clip(tmp_path / "in")
    rc, err = fav(*s360(inp, str(tmp_path / "out"), models, "--out-equi", "30000x15000"))
    assert_one_line_error(rc, err, "30000x15000", "--out-equi")
    assert not any((tmp_path / "out").glob("*.png"))


def test_360_faces_too_large_for_memory_are_one_line(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Huge --cube-edge: numpy's _ArrayMemoryError (projection maps) or torch's allocator RuntimeError (the nets,
    mid-run) as tracebacks; now the maps' MemoryError is one line, and the nets' need is checked like fav
    stylize's frames before any frame."""
    import fav_core.budget as budget
    import fav_core.spherical.projection as projection

    inp = equirect_clip(tmp_path / "in")

    def no_memory(*args: object, **kw: object) -> None:
        raise MemoryError("Unable to allocate 8.94 GiB for an array with shape (20000, 20000, 3)")

    with monkeypatch.context() as m:
        m.setattr(projection.EquirectToCube, "__init__", no_memory)
        rc, err = fav(*s360(inp, str(tmp_path / "out"), models, "--cube-edge", "20000", "--overlap", "200"))
    assert_one_line_error(rc, err, inp, "20000-px cube faces", "--cube-edge")
    import fav_core.tiling as tiling

    monkeypatch.setattr(budget, "device_bytes", lambda device: 1024)
    monkeypatch.setattr(tiling, "device_bytes", lambda device: 1024)
    rc, err = fav(*s360(inp, str(tmp_path / "out"), models))
    line = assert_one_line_error(rc, err, "(cube faces): frames are 20x20", "give a smaller --cube-edge")
    assert "--tile" not in line
    assert not (tmp_path / "out").exists()


def test_farm_several_shots_into_a_pattern_is_refused_with_the_reason(tmp_path: Path, models: tuple[str, str],
                                                                      fav: Fav) -> None:
    """Was '.../frame_%04d.png/plate: the frame-number placeholder must be in the file name, not in a folder'."""
    a = make_clip(tmp_path / "a" / "plate", n=2)
    b = make_clip(tmp_path / "b" / "plate", n=2)
    rc, err = fav("farm", a, b, "-o", str(tmp_path / "out" / "frame_%04d.png"), "--progress", "none")
    assert_one_line_error(rc, err, "with several shots OUTPUT is a folder")
    assert not (tmp_path / "out").exists()
