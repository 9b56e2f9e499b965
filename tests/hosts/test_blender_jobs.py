"""The Blender host's job runner against the real core: options -> command line, progress events, errors,
cancel (child process and in-process) leaving only whole frames, and resume after a cancel."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

pytest.importorskip("bpy")

from blender_support import load_addon, write_models, write_png_sequence  # noqa: E402

pytestmark = pytest.mark.host

load_addon()
from fav_blender import jobs  # noqa: E402
from fav_blender.errors import HostError  # noqa: E402
from fav_blender.options import StylizeOptions, resolve_model  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return write_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("clip")
    write_png_sequence(folder, 10, h=24, w=32)
    return str(folder / "shot_%04d.png")


def _spec(clip: str, out: Path, models: tuple[str, str], **kw: object) -> jobs.JobSpec:
    options = StylizeOptions(model=models[0], image_model=models[1], median_filter=1,
                             **kw)  # type: ignore[arg-type]
    return jobs.JobSpec(clip, str(out / "stylized_%04d.png"), options, log_path=out / "fav.log")


def _whole_frames(folder: Path) -> list[str]:
    """Names of the frames in ``folder``; fails on any partial/temporary file or unreadable frame."""
    names = sorted(p.name for p in folder.iterdir() if p.suffix == ".png")
    leftovers = [p.name for p in folder.iterdir() if ".tmp-" in p.name]
    assert leftovers == []
    for name in names:
        buf = oiio.ImageBuf(str(folder / name))
        pixels = buf.get_pixels(oiio.UINT8)
        assert not buf.has_error and pixels is not None and pixels.shape == (24, 32, 3), name
    return names


def test_options_to_cli_args_exact() -> None:
    opts = StylizeOptions(model="/m/v.safetensors", image_model="self", flow="pass", min_filter=5,
                          median_filter=1, fill="uniform-random", backward=True, device="cpu",
                          precision="bf16", num_frames=12, resume=False)
    assert opts.to_cli_args() == [
        "--model", "/m/v.safetensors", "--flow", "pass", "--image-model", "self", "--vectors", "blender",
        "--min-filter", "5", "--median-filter", "1", "--fill", "uniform-random", "--device", "cpu",
        "--precision", "bf16", "--backward", "--num-frames", "12", "--no-resume",
    ]
    assert StylizeOptions(model="candy").to_cli_args() == [
        "--model", "candy", "--flow", "dis", "--min-filter", "7", "--median-filter", "3", "--device", "auto",
        "--precision", "auto",
    ]


def test_job_spec_command_runs_the_core_module() -> None:
    spec = jobs.JobSpec("in_%04d.exr", "out_%04d.exr", StylizeOptions(model="candy"), python="/py")
    assert spec.command()[:6] == ["/py", "-m", "fav_core.cli", "stylize", "in_%04d.exr", "-o"]
    assert spec.command()[-2:] == ["--progress", "json"]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"model": "  "}, "no model set"),
        ({"model": "m", "flow": "farneback"}, "flow must be one of pass, dis, deepflow, raft"),
        ({"model": "m", "flow": "raft"}, "RAFT flow needs a local weights file"),
        ({"model": "m", "median_filter": 0}, "median filter size must be >= 1"),
        ({"model": "m", "num_frames": 0}, "num_frames must be >= 1"),
    ],
)
def test_bad_options_raise_host_error(kw: dict[str, object], message: str) -> None:
    with pytest.raises(HostError, match=message):
        StylizeOptions(**kw)  # type: ignore[arg-type]


def test_resolve_model(tmp_path: Path) -> None:
    (tmp_path / "candy.safetensors").write_bytes(b"x")
    assert resolve_model("candy", str(tmp_path)) == str((tmp_path / "candy.safetensors").resolve())
    assert resolve_model("mosaic", str(tmp_path)) == "mosaic"  # left to the core's model search
    with pytest.raises(HostError, match=r"nope\.safetensors: model file not found"):
        resolve_model(str(tmp_path / "nope.safetensors"), "")


def test_subprocess_job_reports_every_frame(tmp_path: Path, clip: str, models: tuple[str, str]) -> None:
    events: list[dict[str, object]] = []
    result = jobs.Job(_spec(clip, tmp_path, models, num_frames=3)).start().wait(events.append)
    assert [e["event"] for e in events] == ["start", "frame", "frame", "frame", "done"]
    assert result.status == "done" and result.returncode == 0 and result.total == 3
    assert result.written == [(i, str(tmp_path / f"stylized_{i:04d}.png")) for i in (1, 2, 3)]
    assert _whole_frames(tmp_path) == ["stylized_0001.png", "stylized_0002.png", "stylized_0003.png"]


def test_core_error_becomes_failed_result(tmp_path: Path, models: tuple[str, str]) -> None:
    spec = _spec(str(tmp_path / "missing_%04d.png"), tmp_path / "out", models)
    result = jobs.Job(spec).start().wait()
    assert result.status == "failed" and result.returncode == 2
    assert "missing_%04d.png" in result.message and "\n" not in result.message


def test_missing_interpreter_is_a_host_error(tmp_path: Path, clip: str, models: tuple[str, str]) -> None:
    spec = jobs.JobSpec(clip, str(tmp_path / "o_%04d.png"), StylizeOptions(model=models[0]),
                        python=str(tmp_path / "no-python"))
    with pytest.raises(HostError, match="cannot start the core's Python"):
        jobs.Job(spec).start()


@pytest.mark.parametrize("in_process", [False, True], ids=["subprocess", "in-process"])
def test_cancel_keeps_only_whole_frames_and_resume_finishes(
    tmp_path: Path, clip: str, models: tuple[str, str], in_process: bool
) -> None:
    spec = _spec(clip, tmp_path, models)
    spec = jobs.JobSpec(spec.input, spec.output, spec.options, in_process=in_process, log_path=spec.log_path)
    job = jobs.Job(spec).start()

    def on_event(event: dict[str, object]) -> None:
        if event["event"] == "frame" and event["done"] == 2:
            job.cancel()

    result = job.wait(on_event)
    assert result.status == "cancelled"
    assert result.returncode == 130
    assert 2 <= len(result.written) < 10
    written = [Path(p).name for _, p in result.written if p]
    assert _whole_frames(tmp_path) == written  # every reported frame is on disk, nothing else

    resumed = jobs.Job(spec).start().wait()
    assert resumed.status == "done"
    assert resumed.written[0][0] == len(written) + 1  # continued after the last whole frame
    assert _whole_frames(tmp_path) == [f"stylized_{i:04d}.png" for i in range(1, 11)]


def test_poll_is_non_blocking_and_drains_in_order(tmp_path: Path, clip: str, models: tuple[str, str]) -> None:
    import time

    job = jobs.Job(_spec(clip, tmp_path, models, num_frames=2)).start()
    seen: list[str] = []
    t0 = time.monotonic()
    first = job.poll()
    assert time.monotonic() - t0 < 0.5
    seen += [str(e["event"]) for e in first]
    while not job.finished:
        seen += [str(e["event"]) for e in job.poll()]
        time.sleep(0.05)
    assert seen == ["start", "frame", "frame", "done"]
    assert job.result is not None and job.result.status == "done"
    assert np.array_equal(sorted(i for i, _ in job.result.written), [1, 2])


def test_child_ignoring_cancel_is_killed_after_grace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import time

    fake = tmp_path / "stubborn-python"
    fake.write_text("#!/bin/sh\ntrap '' TERM\necho '{\"event\": \"start\", \"total\": 5}'\nexec sleep 60\n")
    os.chmod(fake, 0o755)
    monkeypatch.setattr(jobs, "CANCEL_GRACE_S", 0.5)
    job = jobs.Job(jobs.JobSpec("in_%04d.png", str(tmp_path / "o_%04d.png"), StylizeOptions(model="m"),
                                python=str(fake))).start()
    t0 = time.monotonic()
    result = job.wait(lambda e: job.cancel())
    assert time.monotonic() - t0 < 10
    assert result.status == "cancelled" and result.returncode == -9


def test_child_crash_is_failed_with_its_last_stderr_line_and_the_log(tmp_path: Path) -> None:
    import os

    fake = tmp_path / "broken-python"
    fake.write_text("#!/bin/sh\necho 'Traceback (most recent call last):' >&2\n"
                    "echo \"ModuleNotFoundError: No module named 'fav_core'\" >&2\nexit 1\n")
    os.chmod(fake, 0o755)
    log_path = tmp_path / "logs" / "fav.log"
    spec = jobs.JobSpec("in_%04d.png", str(tmp_path / "o_%04d.png"), StylizeOptions(model="m"), python=str(fake),
                        log_path=log_path)
    result = jobs.Job(spec).start().wait(timeout=30)
    assert (result.status, result.returncode, result.written, result.total) == ("failed", 1, [], 0)
    assert result.message == (f"{fake}: the core failed with exit code 1: ModuleNotFoundError: No module named "
                              f"'fav_core' (log: {log_path})")
    assert log_path.read_text().splitlines()[-1] == "ModuleNotFoundError: No module named 'fav_core'"
    assert jobs.jobclient.__name__ == "fav_blender.jobclient"  # the checkout's fav_core/jobclient.py, by path
