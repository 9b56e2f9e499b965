"""Per-user settings: how to reach the core (child process or in-process), model folder, default device.

The extension itself is pure-Python glue; torch and ``fav_core`` normally live in a separate Python (a venv)
that Blender starts as a child process. When torch does import inside Blender's Python, the core may run
in-process instead (preference "In Blender's Python"). Nothing here imports torch: availability is checked
with ``importlib.util.find_spec`` only.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy

from .errors import HostError

#: What to install when the core is not reachable (shown in the preferences and in error reports).
INSTALL_HINT = (
    "Install the core into a Python 3.11+ of your choice: python -m venv fav-venv && "
    "fav-venv/bin/pip install fast-artistic-videos (or 'pip install -e .' in a checkout), "
    "then set Preferences > Add-ons > Fast Artistic Videos > Python to fav-venv/bin/python"
)

CORE_MODES = (
    ("AUTO", "Automatic", "Blender's Python when torch and fav_core import there, else the Python below"),
    ("SUBPROCESS", "Separate Python", "Always run the core as a child process of the Python below"),
    ("IN_PROCESS", "In Blender's Python", "Run the core in a worker thread of Blender (torch installed there)"),
)
DEVICES = (("AUTO", "Automatic", "CUDA when available, else CPU"), ("CPU", "CPU", ""), ("CUDA", "CUDA", ""))


@dataclass(frozen=True)
class HostPrefs:
    """Plain copy of the preferences (defaults when the extension is not installed as an add-on).

    Attributes:
        core_mode: "AUTO" | "SUBPROCESS" | "IN_PROCESS" (default ``$FAV_CORE_MODE``, else AUTO).
        python: interpreter for the child process ("" = ``$FAV_PYTHON``, else this Python).
        core_path: extra folder that holds ``fav_core`` (a checkout), put on the child's/our path.
        model_dir: folder searched first for ``<name>.safetensors`` models.
        device: default device, "auto" | "cpu" | "cuda".
    """

    core_mode: str = field(default_factory=lambda: os.environ.get("FAV_CORE_MODE", "AUTO").upper())
    python: str = ""
    core_path: str = ""
    model_dir: str = ""
    device: str = "auto"

    def python_executable(self) -> str:
        """The interpreter the child process runs with."""
        return self.python or os.environ.get("FAV_PYTHON", "") or sys.executable

    def use_in_process(self) -> bool:
        """Whether to run the core in Blender's Python.

        Raises:
            HostError: "In Blender's Python" is chosen but torch or fav_core do not import here.
        """
        if self.core_mode == "SUBPROCESS":
            return False
        from .inprocess import core_importable

        importable = core_importable(self.core_path)
        if self.core_mode == "IN_PROCESS":
            if not importable:
                raise HostError(f"torch or fav_core is not installed in Blender's Python ({sys.executable}). "
                                + INSTALL_HINT)
            return True
        # AUTO: a Python configured on purpose wins over Blender's own
        return importable and not (self.python or os.environ.get("FAV_PYTHON"))


def get_prefs(context: Any) -> HostPrefs:
    """The preferences of this extension, or :class:`HostPrefs` defaults when it is not an enabled add-on
    (scripts and tests that load the package directly)."""
    addon = context.preferences.addons.get(__package__) if __package__ else None
    if addon is None or addon.preferences is None:
        return HostPrefs()
    p = addon.preferences
    return HostPrefs(
        core_mode=p.core_mode,
        python=bpy.path.abspath(p.python_path) if p.python_path else "",
        core_path=bpy.path.abspath(p.core_path) if p.core_path else "",
        model_dir=bpy.path.abspath(p.model_dir) if p.model_dir else "",
        device=p.device.lower(),
    )


def check_core(prefs: HostPrefs, timeout: float = 60.0) -> str:
    """Start the configured Python once and import the core there; returns a one-line description.

    Raises:
        HostError: the interpreter is missing or fav_core/torch do not import in it.
    """
    python = prefs.python_executable()
    if not Path(python).is_file():
        raise HostError(f"{python}: Python not found. " + INSTALL_HINT)
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    if prefs.core_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (prefs.core_path, env.get("PYTHONPATH", "")) if p)
    code = "import fav_core, torch; print('fav_core', fav_core.__file__, 'torch', torch.__version__)"
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HostError(f"{python}: cannot run it ({exc})") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise HostError(f"{python}: the core does not import ({last}). " + INSTALL_HINT)
    return done.stdout.strip()


class FAV_OT_check_core(bpy.types.Operator):
    """Start the configured Python and check that torch and fav_core import there"""

    bl_idname = "fav.check_core"
    bl_label = "Check Core"

    def execute(self, context: Any) -> set[str]:
        try:
            self.report({"INFO"}, check_core(get_prefs(context)))
        except HostError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


class FAV_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__ or "fav_blender"

    core_mode: bpy.props.EnumProperty(name="Run the Core", items=CORE_MODES, default="AUTO")  # type: ignore
    python_path: bpy.props.StringProperty(  # type: ignore
        name="Python", subtype="FILE_PATH",
        description="Python with fast-artistic-videos (fav_core + torch) installed; empty = $FAV_PYTHON or "
        "Blender's own Python")
    core_path: bpy.props.StringProperty(  # type: ignore
        name="Core Folder", subtype="DIR_PATH",
        description="Optional: folder that contains the fav_core package (a source checkout)")
    model_dir: bpy.props.StringProperty(  # type: ignore
        name="Model Folder", subtype="DIR_PATH", description="Folder searched first for <name>.safetensors")
    device: bpy.props.EnumProperty(name="Device", items=DEVICES, default="AUTO")  # type: ignore

    def draw(self, context: Any) -> None:
        layout = self.layout
        layout.prop(self, "core_mode")
        layout.prop(self, "python_path")
        layout.prop(self, "core_path")
        layout.prop(self, "model_dir")
        layout.prop(self, "device")
        from .inprocess import core_importable

        box = layout.box()
        if core_importable(bpy.path.abspath(self.core_path) if self.core_path else ""):
            box.label(text="torch and fav_core import in Blender's Python: in-process runs are possible",
                      icon="CHECKMARK")
        else:
            box.label(text="torch / fav_core are not installed in Blender's Python (that is fine):", icon="INFO")
            for line in INSTALL_HINT.split(", "):
                box.label(text=line)
        box.operator(FAV_OT_check_core.bl_idname, icon="PLAY")


CLASSES = (FAV_OT_check_core, FAV_AP_preferences)
