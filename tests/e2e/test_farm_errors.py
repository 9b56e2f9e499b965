"""Typed errors raised inside farm tasks reach the driver as the same typed error (one line, exit 2), not as
Ray's ``UnserializableException`` traceback; retryable ones are retried. Private loopback cluster, 1 CPU."""
from __future__ import annotations

from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from fav_core.errors import FlowFormatError, InputError, OutputError  # noqa: E402
from fav_core.farm import ShotSpec  # noqa: E402
from fav_core.farm.ray_runner import TaskFailure, run_farm  # noqa: E402
from fav_core.farm.tasks import TaskResult  # noqa: E402
from fav_core.stylizer import StylizerConfig  # noqa: E402
from tests.support import make_clip  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> object:
    """A private Ray cluster on loopback (never any other address)."""
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


def skip_flows() -> object:
    """A flow task body that does nothing (a closure: workers cannot import this test module by name)."""
    def no_flow(spec: ShotSpec, pairs: object) -> TaskResult:
        return TaskResult(0, 0)
    return no_flow


def shot(tmp_path: Path) -> ShotSpec:
    inp = make_clip(tmp_path / "in", 2)
    out = tmp_path / "out"
    return ShotSpec(inp, str(out), str(out), str(tmp_path / "flow"), StylizerConfig(model="stained-glass-video", device="cpu"))


def test_gpus_the_private_cluster_lacks_are_refused(tmp_path: Path) -> None:
    """``--gpus-per-task 1`` on a machine without a GPU waited for ever (Ray never schedules the tasks)."""
    from fav_core.errors import ConfigError

    if ray.is_initialized():
        pytest.skip("needs to start its own cluster")
    try:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    except ImportError:
        pass
    with pytest.raises(ConfigError, match=r"--gpus-per-task 1: the cluster has 0 GPU\(s\)"):
        run_farm([shot(tmp_path)], workers=1, chunk_size=2, warmup=0, gpus_per_task=1.0, flow_fn=skip_flows())
    assert not ray.is_initialized()


def test_gpu_check_on_a_cluster_given_by_address_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    from fav_core.errors import ConfigError
    from fav_core.farm.ray_runner import _check_gpus

    _check_gpus(2.0, 1.0, private=True)
    with pytest.raises(ConfigError):
        _check_gpus(0.5, 1.0, private=True)
    _check_gpus(0.0, 1.0, private=False)  # an autoscaling cluster may add GPU nodes
    assert "unless the cluster adds GPU nodes" in caplog.text


def test_the_carrier_rebuilds_the_typed_error() -> None:
    """Task errors reach the driver as the same typed error (InputError also pickles on its own now)."""
    import pickle

    assert str(pickle.loads(pickle.dumps(InputError("a.png", "damaged")))) == "a.png: damaged"
    back = pickle.loads(pickle.dumps(TaskFailure.carry(FlowFormatError("b.flo", "bad tag")))).rebuild()
    assert type(back) is FlowFormatError and str(back) == "b.flo: bad tag" and back.path == "b.flo"


def test_a_typed_task_error_reaches_the_driver_as_itself(cluster: object, tmp_path: Path) -> None:
    def damaged(spec: ShotSpec, chunk: object) -> TaskResult:
        raise InputError("/shots/a/frame_0002.exr", "cannot read image: damaged")

    with pytest.raises(InputError) as info:
        run_farm([shot(tmp_path)], workers=1, chunk_size=2, warmup=0, max_retries=0, flow_fn=skip_flows(),
                 chunk_fn=damaged)
    assert type(info.value) is InputError
    assert str(info.value) == "/shots/a/frame_0002.exr: cannot read image: damaged"
    assert info.value.path == "/shots/a/frame_0002.exr"


def test_an_output_error_is_retried(cluster: object, tmp_path: Path) -> None:
    marker = tmp_path / "failed-once"

    def full_once(spec: ShotSpec, chunk: object) -> TaskResult:
        if not marker.exists():
            marker.write_text("x")
            raise OutputError("/out/frame_00001.png", "cannot write (No space left on device)")
        return TaskResult(2, 0)

    report = run_farm([shot(tmp_path)], workers=1, chunk_size=2, warmup=0, max_retries=1, flow_fn=skip_flows(),
                      chunk_fn=full_once)
    assert marker.exists() and report.written == 2

