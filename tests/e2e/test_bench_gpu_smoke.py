"""bench/gpu.py --smoke --device cpu runs every section (but compile) and records each in gpu.json / gpu.md."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_bench_smoke_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--smoke", "--device", "cpu",
                          "--no-compile", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    data = json.loads((out / "gpu.json").read_text())
    for section in ("env", "parity", "trained", "network", "e2e", "training"):
        assert section in data, section
        assert "error" not in data[section], data[section]
        assert not any(str(v).startswith("error") for v in data[section].values()), data[section]
    # the device path on the CPU is exact against the numpy path
    assert data["parity"]["stylizer_fp32"]["raw_maxdiff_rgb01"] == [0.0] * 6
    assert data["parity"]["stylizer_fp32"]["mask_equal_fraction"] == [1.0] * 6
    assert data["training"]["image"]["finite"] and data["training"]["video"]["finite"]
    assert data["e2e"]["files_pipelined"]["fps"] > 0
    assert data["e2e"]["memory_pipeline_overlap_staged"]["fps"] > 0
    assert data["e2e"]["verdict"]["best"].startswith("memory_")
    # the shipped trained models: CPU numpy path vs itself (device "cpu") is exact
    assert data["trained"]["trained_fp32_no_tf32"]["raw_maxdiff_rgb01"] == [0.0] * 4
    assert data["trained"]["random_fp32_no_tf32"]["mask_equal_fraction"] == [1.0] * 4
    assert "## d. end to end at 1080p" in (out / "gpu.md").read_text()
