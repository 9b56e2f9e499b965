"""``run_farm`` without an address starts its own loopback cluster whose workers keep freed memory (and no
worker of a cluster given by address is touched: that path never sets the variable)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from fav_core.farm import ShotSpec  # noqa: E402
from fav_core.farm.ray_runner import WORKER_TUNING_ENV, TaskResult, run_farm  # noqa: E402
from fav_core.stylizer import StylizerConfig  # noqa: E402
from tests.support import make_clip  # noqa: E402

pytestmark = pytest.mark.slow


def test_private_cluster_workers_keep_freed_memory(tmp_path: Path) -> None:
    # defined here so that Ray ships it by value (this test module is not importable in the workers)
    def probe(shot: ShotSpec, *_: object) -> TaskResult:
        """Task body run in a worker: record what the worker's environment and allocator look like."""
        import resource

        import numpy as np

        a = np.ones(64 << 17)  # 64 MiB, freed and allocated again: no page faults when glibc keeps freed memory
        del a
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        b = np.ones(64 << 17)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        del b
        record = {"tuning": os.environ.get(WORKER_TUNING_ENV), "thp": os.environ.get("THP_MEM_ALLOC_ENABLE"),
                  "faults": faults, "pid": os.getpid()}
        path = Path(shot.flow_dir) / f"probe-{os.getpid()}-{len(list(Path(shot.flow_dir).glob('probe-*')))}.json"
        path.write_text(json.dumps(record))
        return TaskResult(written=1, skipped=0)

    if ray.is_initialized():
        ray.shutdown()
    inp = make_clip(tmp_path / "in", 3)
    flows = tmp_path / "flows"
    flows.mkdir()
    shot = ShotSpec(input=inp, output=str(tmp_path / "out"), root=str(tmp_path), flow_dir=str(flows),
                    config=StylizerConfig(model="unused"))
    report = run_farm([shot], workers=1, chunk_size=3, warmup=0, flow_fn=probe, chunk_fn=probe)
    assert not ray.is_initialized()  # the private cluster is shut down again
    records = [json.loads(p.read_text()) for p in flows.glob("probe-*.json")]
    assert len(records) == report.flow_tasks + report.chunk_tasks >= 2
    assert all(r["tuning"] == "1" and r["thp"] == "1" for r in records)
    assert all(r["faults"] < 8 for r in records), records
    assert os.environ.get(WORKER_TUNING_ENV) is None  # the driver's own environment is untouched
