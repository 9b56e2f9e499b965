"""fav_nuke.cattery: the TorchScript image-model export (scripted == eager, same colour pipeline as the core)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hosts" / "nuke"))

from fav_nuke.cattery import (  # noqa: E402
    CatteryImageModel,
    export,
    image_model,
    linear_to_srgb,
    main,
    script_and_check,
    srgb_to_linear,
)

from fav_core.errors import ConfigError  # noqa: E402
from fav_core.io import color  # noqa: E402
from fav_core.modelfile import ModelMeta, load_model, save_model  # noqa: E402
from fav_core.nets import build_transformer  # noqa: E402
from fav_core.nets.preprocess import deprocess, preprocess  # noqa: E402
from tests.hosts.fake_nuke import FakeNuke, install  # noqa: E402
from tests.support import TINY_ARCH as ARCH  # noqa: E402


def tiny(tmp_path: Path, kind: str, seed: int = 0, **meta: str) -> Path:
    torch.manual_seed(seed)
    ch = 3 if kind == "image" else 7
    return save_model(tmp_path / f"tiny-{kind}-{seed}.safetensors", build_transformer(ARCH, ch),
                      ModelMeta(kind=kind, arch=ARCH, in_channels=ch, style_name="tiny", **meta))


def linear_frame(h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((1, 3, h, w), generator=g) ** 2.2 * 1.5  # some values above 1, like a real plate


def test_colour_curves_match_the_core() -> None:
    x = np.linspace(-2, 4, 601, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(torch.from_numpy(x)).numpy(), color.linear_to_srgb(x), atol=2e-6)
    np.testing.assert_allclose(srgb_to_linear(torch.from_numpy(x)).numpy(), color.srgb_to_linear(x), rtol=2e-6,
                               atol=2e-6)


@pytest.mark.parametrize("preprocessing", ["vgg", "resnet"])
def test_wrapper_equals_the_core_pipeline(tmp_path: Path, preprocessing: str) -> None:
    """linear -> sRGB (fav_core.io.color) -> preprocess -> net -> deprocess -> linear, as the CLI does for EXR."""
    model = load_model(tiny(tmp_path, "image", preprocessing=preprocessing))
    x = linear_frame(20, 28)
    with torch.no_grad():
        got = image_model(model, None)(x)
        srgb = torch.from_numpy(color.linear_to_srgb(x.numpy()))
        ref = deprocess(model.net(preprocess(srgb, preprocessing)), preprocessing)
        ref = color.srgb_to_linear(ref.numpy())
    assert got.shape == (1, 3, 20, 28)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-4, atol=1e-5)


def test_scripted_equals_eager_image_model(tmp_path: Path) -> None:
    module = image_model(load_model(tiny(tmp_path, "image")), None)
    scripted = script_and_check(module)
    for h, w in ((16, 24), (13, 31), (1, 1)):
        x = linear_frame(h, w, seed=h)
        with torch.no_grad():
            diff = (scripted(x) - module(x)).abs().max().item()
        assert diff <= 1e-5, (h, w, diff)


def test_video_model_as_its_own_image_model(tmp_path: Path) -> None:
    video = load_model(tiny(tmp_path, "video"))
    module = image_model(video, None)
    x = linear_frame(16, 24)
    with torch.no_grad():
        pre = preprocess(torch.from_numpy(color.linear_to_srgb(x.numpy())), "vgg")
        ref = video.net(torch.cat([pre, torch.zeros(1, 4, 16, 24)], 1))  # all-occluded prior, vgg-mean fill
        ref = color.srgb_to_linear(deprocess(ref, "vgg").numpy())
        np.testing.assert_allclose(module(x).numpy(), ref, rtol=1e-4, atol=1e-5)
        scripted = script_and_check(module)
        assert (scripted(x) - module(x)).abs().max().item() <= 1e-5


def test_refusals(tmp_path: Path) -> None:
    video = load_model(tiny(tmp_path, "video", fill="uniform-random"))
    with pytest.raises(ConfigError, match="uniform-random fill has no deterministic first frame"):
        image_model(video, None)
    with pytest.raises(ConfigError, match="--image-model must be an image model"):
        image_model(video, video)
    with pytest.raises(ConfigError, match="only 3 .image. or 7 .video. export"):
        CatteryImageModel(build_transformer(ARCH, 4), "vgg")


def test_export_writes_a_loadable_torchscript_file(tmp_path: Path) -> None:
    video, image = tiny(tmp_path, "video"), tiny(tmp_path, "image", seed=1)
    out = export(str(video), tmp_path / "cat" / "candy.pt", str(image))
    loaded = torch.jit.load(str(out))
    eager = image_model(load_model(video), load_model(image))
    x = linear_frame(18, 22, seed=3)
    with torch.no_grad():
        assert (loaded(x) - eager(x)).abs().max().item() <= 1e-5
    assert not list((tmp_path / "cat").glob("*.tmp"))


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.safetensors"), "-o", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fav_nuke.cattery: error: ") and "missing.safetensors" in err and "\n" not in err


@pytest.mark.slow
def test_export_button_runs_the_exporter_out_of_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake: FakeNuke = install(monkeypatch)
    monkeypatch.setenv("FAV_NUKE_SETTINGS", str(tmp_path / "settings.json"))
    from fav_nuke.node import create_node

    group = create_node()
    group["model"].setValue(str(tiny(tmp_path, "image")))
    group["core_python"].setValue(sys.executable)
    group["output_folder"].setValue(str(tmp_path / "job"))
    group["export_cattery"].execute()
    target = tmp_path / "job" / "cattery" / "tiny-image-0_image.pt"
    assert target.is_file()
    assert len(fake.messages) == 1 and fake.messages[0].startswith(f"Wrote {target}.")
    group["model"].setValue(str(tmp_path / "gone.safetensors"))
    group["export_cattery"].execute()
    assert len(fake.messages) == 2 and fake.messages[1].startswith("FastArtisticVideos: Cattery export failed: ")
    assert "gone.safetensors" in fake.messages[1]


@pytest.mark.slow
def test_export_button_in_the_gui_keeps_nuke_responsive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the GUI the exporter (torch import, scripting: seconds to a minute) runs in a worker thread with a
    ProgressTask; the message comes back on the main thread. Cancel kills the exporter and says nothing."""
    import threading

    fake: FakeNuke = install(monkeypatch, gui=True)
    monkeypatch.setenv("FAV_NUKE_SETTINGS", str(tmp_path / "settings.json"))
    from fav_nuke.node import create_node

    group = create_node()
    group["model"].setValue(str(tiny(tmp_path, "image")))
    group["core_python"].setValue(sys.executable)
    group["output_folder"].setValue(str(tmp_path / "job"))
    target = tmp_path / "job" / "cattery" / "tiny-image-0_image.pt"

    def join_worker(timeout: float) -> None:
        # a worker that already ended (a cancel takes ~0.2 s) is no longer listed: nothing to wait for then
        for thread in threading.enumerate():
            if thread.name == "fav-cattery-FastArtisticVideos":
                thread.join(timeout=timeout)
                assert not thread.is_alive(), f"the export worker is still running after {timeout} s"

    fake.cancel_when = lambda task: True  # the artist cancels at once
    group["export_cattery"].execute()
    assert not group["export_cattery"].enabled()  # one export at a time
    join_worker(60)
    assert fake.run_main_thread_queue() == 1
    assert fake.messages == [] and not target.exists() and group["export_cattery"].enabled()

    fake.cancel_when = None
    group["export_cattery"].execute()
    assert fake.messages == []  # nothing yet: the export runs in the worker
    join_worker(120)
    assert fake.run_main_thread_queue() == 1
    assert target.is_file() and len(fake.messages) == 1 and fake.messages[0].startswith(f"Wrote {target}.")
    assert fake.progress_tasks[-1].title == "Exporting FastArtisticVideos for Cattery"
