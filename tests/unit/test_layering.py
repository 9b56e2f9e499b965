"""The dependency arrows: hosts -> fav_core, training -> fav_core; the core imports no host and no trainer."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CORE = {"bpy", "nuke", "hosts", "training", "fav_gui", "PySide6", "PySide2"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def core_files() -> list[Path]:
    return sorted((ROOT / "fav_core").rglob("*.py"))


def test_core_has_files() -> None:
    assert len(core_files()) > 10


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_host(path: Path) -> None:
    bad = imported_roots(path) & FORBIDDEN_IN_CORE
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_detector_sees_a_host_import(tmp_path: Path) -> None:
    p = tmp_path / "x.py"
    p.write_text("def f():\n    import bpy\n    from nuke import nodes\n")
    assert {"bpy", "nuke"} <= imported_roots(p)


def test_training_does_not_import_hosts() -> None:
    for path in sorted((ROOT / "training").rglob("*.py")):
        bad = imported_roots(path) & {"bpy", "nuke", "hosts"}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_import_fav_core_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, fav_core, fav_core.flow.convert; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False", "importing fav_core (for hosts) must not import torch"

