"""Packaging: the build script's zips, and the extension installed through Blender's own extension system
(real bpy, user folders in tmp) in a Python where torch is *not* importable."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("bpy")

from blender_support import ADDON_DIR  # noqa: E402

pytestmark = pytest.mark.host


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, str(ADDON_DIR / "build.py"), "--out", str(out)], capture_output=True,
                          text=True, check=True)
    paths = [Path(line) for line in done.stdout.split()]
    assert len(paths) == 2
    return paths[0], paths[1]


def test_manifest_has_the_required_keys() -> None:
    with open(ADDON_DIR / "blender_manifest.toml", "rb") as f:
        m = tomllib.load(f)
    for key in ("schema_version", "id", "version", "name", "tagline", "maintainer", "type",
                "blender_version_min", "license"):
        assert key in m, key
    assert m["type"] == "add-on" and m["id"] == "fast_artistic_videos"
    assert tuple(int(x) for x in m["blender_version_min"].split(".")) >= (4, 2, 0)
    assert not m["tagline"].endswith((".", "!", "?"))
    assert "files" in m["permissions"]


def test_manifest_passes_blenders_own_validator() -> None:
    """``blender --command extension validate`` (the bundled ``blender_ext.py``, strict): taglines and
    permission reasons of at most 64 characters, no trailing punctuation, known tags."""
    import bpy

    local = Path(bpy.utils.resource_path("LOCAL"))
    cli = local / "scripts" / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    tags = local / "scripts" / "modules" / "_bpy_internal" / "extensions" / "tags.py"
    done = subprocess.run([sys.executable, str(cli), "validate", "--valid-tags", str(tags), str(ADDON_DIR)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout, done.stdout


def test_zips_hold_the_modules(zips: tuple[Path, Path]) -> None:
    extension, legacy = zips
    assert extension.name == "fast_artistic_videos-0.1.0.zip"
    ext_names = set(zipfile.ZipFile(extension).namelist())
    legacy_names = set(zipfile.ZipFile(legacy).namelist())
    modules = {p.name for p in ADDON_DIR.glob("*.py")} - {"build.py"}
    assert "jobclient.py" not in modules
    modules |= {"jobclient.py"}  # the job-protocol client, copied from the core
    assert ext_names == modules | {"blender_manifest.toml"}
    assert legacy_names == {f"fast_artistic_videos/{m}" for m in modules}
    core_client = (ADDON_DIR.parent.parent / "fav_core" / "jobclient.py").read_bytes()
    assert zipfile.ZipFile(extension).read("jobclient.py") == core_client
    assert zipfile.ZipFile(legacy).read("fast_artistic_videos/jobclient.py") == core_client
    init = zipfile.ZipFile(legacy).read("fast_artistic_videos/__init__.py").decode()
    assert "bl_info" in init and "import torch" not in init


SCRIPT = textwrap.dedent(
    """
    import importlib.machinery, sys

    class NoTorch(importlib.machinery.PathFinder):  # torch is "not installed" in this Python
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                return None
            return super().find_spec(name, path, target)

    sys.meta_path = [NoTorch if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
    import bpy

    result = bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default",
                                                     enable_on_install=True)
    name = "bl_ext.user_default.fast_artistic_videos"
    prefs = bpy.context.preferences.addons[name].preferences
    print("installed", result, name in bpy.context.preferences.addons.keys())
    print("registered", hasattr(bpy.types.Scene, "fav_settings"), hasattr(bpy.ops.fav, "stylize_strip"),
          hasattr(bpy.ops.fav, "stylize_render"))
    print("core_mode", prefs.core_mode)
    print("torch_loaded", "torch" in sys.modules)
    print("fav_core_loaded", "fav_core" in sys.modules)
    from importlib import import_module
    client = import_module(name + ".jobs").jobclient
    print("jobclient", client.__name__, client.__file__.startswith(sys.modules[name].__path__[0]))
    ext = sys.modules[name]
    from importlib import import_module
    preferences = import_module(name + ".preferences")
    print("auto_in_process", preferences.HostPrefs(core_mode="AUTO").use_in_process())
    try:
        preferences.HostPrefs(core_mode="IN_PROCESS").use_in_process()
    except Exception as exc:
        print("in_process_error", type(exc).__name__, exc)
    bpy.ops.preferences.addon_disable(module=name)
    print("unregistered", not hasattr(bpy.types.Scene, "fav_settings"))
    """
)


def test_extension_installs_and_loads_without_torch(tmp_path: Path, zips: tuple[Path, Path]) -> None:
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    env.pop("FAV_CORE_MODE", None)
    env.pop("FAV_PYTHON", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(zips[0])], capture_output=True, text=True,
                          env=env, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert lines["installed"] == "{'FINISHED'} True"
    assert lines["registered"] == "True True True"
    assert lines["core_mode"] == "AUTO"
    assert lines["torch_loaded"] == "False"
    assert lines["fav_core_loaded"] == "False"  # start-up imports neither torch nor the core package
    assert lines["jobclient"] == "bl_ext.user_default.fast_artistic_videos.jobclient True"  # the bundled copy
    assert lines["auto_in_process"] == "False"
    assert lines["in_process_error"].startswith("HostError torch or fav_core is not installed in Blender's Python")
    assert "pip install fast-artistic-videos" in lines["in_process_error"]
    assert lines["unregistered"] == "True"


def test_a_zip_without_the_job_client_says_how_to_build_it(tmp_path: Path) -> None:
    """``blender --command extension build`` zips this folder only, without the bundled job client; in a
    Blender whose Python has no fav_core the add-on then fails to load: with one line saying what to do."""
    pkg = tmp_path / "fast_artistic_videos"
    pkg.mkdir()
    for path in ADDON_DIR.glob("*.py"):
        (pkg / path.name).write_bytes(path.read_bytes())
    code = textwrap.dedent(
        f"""
        import importlib.util, sys
        sys.modules["fav_core"] = None  # not installed in this Python
        spec = importlib.util.spec_from_file_location("fast_artistic_videos", {str(pkg / "__init__.py")!r},
                                                      submodule_search_locations=[{str(pkg)!r}])
        module = importlib.util.module_from_spec(spec)
        sys.modules["fast_artistic_videos"] = module
        try:
            spec.loader.exec_module(module)
        except ImportError as exc:
            print("ImportError:", exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert f"ImportError: {pkg}: jobclient.py is missing from this extension" in done.stdout
    assert "build the extension with hosts/blender/build.py" in done.stdout
