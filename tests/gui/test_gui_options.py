"""Pure parts of fav_gui: settings -> ``fav stylize`` arguments, preview range, job protocol bookkeeping."""
from __future__ import annotations

import pytest

from fav_core.errors import ConfigError
from fav_gui.job import EXIT_CANCELLED, Eta, format_duration, outcome_of, parse_event, stylize_command
from fav_gui.options import GuiSettings, stylize_argv
from fav_gui.preview import parse_stylize_args, preview_range


def test_argv_of_the_defaults_and_of_every_option() -> None:
    assert stylize_argv(GuiSettings(model="candy-video"), "in/f_%04d.png", "out") == [
        "stylize", "in/f_%04d.png", "-o", "out", "--model", "candy-video", "--flow", "dis",
        "--min-filter", "7", "--median-filter", "3", "--device", "auto"]
    s = GuiSettings(model=" m.safetensors ", image_model="self", flow="files", flow_pattern="f/b_[%d]_{%d}.flo",
                    occlusions_pattern="f/r_[%d]_{%d}.pgm", min_filter=1, median_filter=5, fill="uniform-random",
                    device="cpu")
    assert stylize_argv(s, "clip.mp4", "o.mp4") == [
        "stylize", "clip.mp4", "-o", "o.mp4", "--model", "m.safetensors", "--image-model", "self",
        "--flow", "files", "--flow-pattern", "f/b_[%d]_{%d}.flo", "--occlusions-pattern", "f/r_[%d]_{%d}.pgm",
        "--min-filter", "1", "--median-filter", "5", "--fill", "uniform-random", "--device", "cpu"]
    raft = GuiSettings(model="m", flow="raft", raft_weights="raft.pth")
    assert stylize_argv(raft, "c", "o")[6:10] == ["--flow", "raft", "--raft-weights", "raft.pth"]


def test_argv_goes_through_the_cores_parser_to_the_same_config() -> None:
    from fav_core.cli.stylize import config_from_args

    s = GuiSettings(model="v.safetensors", image_model="i.safetensors", min_filter=5, median_filter=1,
                    fill="vgg-mean", device="cpu")
    args = parse_stylize_args(stylize_argv(s, "clip", "out"))
    config = config_from_args(args)
    assert (config.model, config.image_model, config.min_filter, config.median_filter, config.fill,
            config.device, config.per_frame) == ("v.safetensors", "i.safetensors", 5, 1, "vgg-mean", "cpu", False)
    assert args.flow == "dis" and args.input == "clip" and args.output == "out"
    with pytest.raises(ConfigError, match="fav stylize: argument --flow"):
        parse_stylize_args(["stylize", "c", "-o", "o", "--flow", "magic"])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"flow": "magic"}, "flow must be one of"),
    ({"fill": "zeros"}, "fill must be"),
    ({"min_filter": 4}, "min filter must be an odd number"),
    ({"median_filter": 33}, "median filter must be an odd number"),
    ({"median_filter": True}, "median filter"),
])
def test_bad_settings_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        GuiSettings(model="m", **kwargs)


def test_argv_needs_a_model_a_clip_and_the_flow_files() -> None:
    with pytest.raises(ConfigError, match="choose a video model"):
        stylize_argv(GuiSettings(), "clip", "out")
    with pytest.raises(ConfigError, match="open a clip first"):
        stylize_argv(GuiSettings(model="m"), "", "out")
    with pytest.raises(ConfigError, match="flow pattern and an occlusions pattern"):
        stylize_argv(GuiSettings(model="m", flow="files", flow_pattern="x"), "clip", "out")
    with pytest.raises(ConfigError, match="RAFT weights"):
        stylize_argv(GuiSettings(model="m", flow="raft"), "clip", "out")


def test_settings_round_trip_through_strings() -> None:
    s = GuiSettings(model="m", flow="pass", min_filter=3, fill="vgg-mean")
    stored = {k: str(v) for k, v in s.to_dict().items()}  # QSettings INI files give strings back
    assert GuiSettings.from_mapping({**stored, "unknown": "x"}) == s
    assert GuiSettings.from_mapping({}) == GuiSettings()
    with pytest.raises(ConfigError, match="stored setting min_filter: not a number"):
        GuiSettings.from_mapping({"min_filter": "seven"})


def test_preview_range_fits_the_clip() -> None:
    frames = list(range(1001, 1011))
    assert preview_range(frames, 1003, 3) == [1003, 1004, 1005]
    assert preview_range(frames, 1009, 3) == [1008, 1009, 1010]  # moved back to fit
    assert preview_range(frames, 1, 3) == [1001, 1002, 1003]
    assert preview_range(frames, 5000, 30) == frames
    with pytest.raises(ConfigError, match="at least 1 frame"):
        preview_range(frames, 1, 0)


def test_command_and_events() -> None:
    assert stylize_command(["stylize", "c", "-o", "o"], "/py") == [
        "/py", "-m", "fav_core.cli", "stylize", "c", "-o", "o", "--progress", "json"]
    assert parse_event('{"event": "frame", "done": 1}\n') == {"event": "frame", "done": 1}
    assert parse_event("progress 50%") is None
    assert parse_event('{"done": 1}') is None
    assert parse_event("   ") is None


def test_outcomes() -> None:
    done = {"frame": {"done": 4}, "done": {"written": 4, "output": "out"}}
    assert outcome_of(0, done, False, [], "py").status == "done"
    assert outcome_of(0, done, False, [], "py").written == 4
    err = outcome_of(2, {"error": {"message": "clip: frame 3 is broken"}}, False, [], "py")
    assert (err.status, err.message) == ("error", "clip: frame 3 is broken")
    cancelled = outcome_of(EXIT_CANCELLED, {"frame": {"done": 2}, "cancelled": {}}, True, [], "py")
    assert (cancelled.status, cancelled.written) == ("cancelled", 2)
    crash = outcome_of(1, {}, False, ["Traceback", "ValueError: boom", ""], "py")
    assert crash.status == "error" and crash.message.endswith("exit code 1: ValueError: boom")
    silent = outcome_of(0, {}, False, [], "py")
    assert silent.status == "error" and "without a 'done' event" in silent.message


def test_eta_uses_the_mean_of_recent_frames() -> None:
    eta = Eta(window=2)
    eta.start(10)
    assert eta.remaining_s() is None
    eta.frame(1, 9.0)
    assert eta.remaining_s() == pytest.approx(81.0)
    eta.frame(2, 1.0)
    eta.frame(3, 3.0)  # window of 2: mean(1, 3) = 2 s, 7 frames left
    assert eta.remaining_s() == pytest.approx(14.0)
    assert [format_duration(s) for s in (None, 0, 59.6, 125, 3723)] == ["--:--", "0:00", "1:00", "2:05", "1:02:03"]


def test_stylize_command_needs_the_subcommand() -> None:
    with pytest.raises(ValueError, match="must start with 'stylize'"):
        stylize_command(["c", "-o", "o"], "/py")


def test_runner_reports_a_crash_and_a_missing_program(qapp: object, tmp_path: object) -> None:
    """JobRunner (fav_core.jobclient.CoreProcess drained by a QTimer): every end arrives as one ``ended``."""
    import sys

    from fav_gui.job import JobRunner
    from tests.gui.conftest import wait_for

    runner = JobRunner()
    events: list[dict] = []
    outcomes: list[object] = []
    runner.event.connect(events.append)
    runner.ended.connect(outcomes.append)
    runner.start([sys.executable, "-c", "import sys; print('{\"event\": \"start\", \"total\": 2}'); "
                                        "print('ValueError: boom', file=sys.stderr); sys.exit(1)"])
    assert runner.running()
    with pytest.raises(RuntimeError, match="already running"):
        runner.start([sys.executable, "-c", "pass"])
    wait_for(lambda: bool(outcomes), 30, "the crashed child")
    assert not runner.running() and events == [{"event": "start", "total": 2}]
    crash = outcomes.pop()
    assert (crash.status, crash.returncode) == ("error", 1)
    assert crash.message == f"{sys.executable}: the core failed with exit code 1: ValueError: boom"

    missing = str(tmp_path) + "/no-python"
    runner.start([missing, "-m", "fav_core.cli"])
    assert not runner.running() and outcomes == []  # reported from the event loop, not inside start()
    wait_for(lambda: bool(outcomes), 10, "the failed start")
    assert outcomes[0].status == "error" and outcomes[0].returncode is None
    assert outcomes[0].message.startswith(f"{missing}: cannot start the core (")

    runner.start([sys.executable, "-c", "import time; time.sleep(30)"], env={"PATH": "/usr/bin"})
    assert not runner.wait(200)
    runner.cancel()
    assert runner.wait(20000) and not runner.running()
    assert outcomes[-1].status == "cancelled" and outcomes[-1].message.endswith("Run again to resume")
