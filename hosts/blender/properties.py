"""The per-scene settings of the extension: one PropertyGroup at ``Scene.fav_settings``.

``to_config()`` is the one mapping from these UI properties to :class:`options.StylizeOptions` (and so to the
``fav stylize`` command line, ``to_cli_args()``).
"""
from __future__ import annotations

from typing import Any

import bpy

from .options import StylizeOptions, resolve_model
from .preferences import HostPrefs

FLOW_ITEMS = (
    ("PASS", "Render Pass", "Blender's Vector pass (renders only); computed DIS flow where it has no vectors"),
    ("DIS", "DIS", "OpenCV DIS optical flow (CPU, fast)"),
    ("DEEPFLOW", "DeepFlow", "OpenCV DeepFlow (CPU, slow, closest to the reference)"),
    ("RAFT", "RAFT", "RAFT network (GPU; needs a local weights file)"),
)
FILL_ITEMS = (
    ("MODEL", "Model Default", "The fill the model was trained with"),
    ("VGG_MEAN", "VGG Mean", "Unreliable prior pixels are set to the VGG mean colour"),
    ("UNIFORM_RANDOM", "Uniform Random", "Unreliable prior pixels are set to uniform noise"),
)
DIRECTION_ITEMS = (
    ("FORWARD", "Forward", "First frame to last"),
    ("BACKWARD", "Backward", "Last frame to first"),
)
DEVICE_ITEMS = (
    ("PREFS", "From Preferences", "The device set in the extension preferences"),
    ("AUTO", "Automatic", "CUDA when available, else CPU"),
    ("CPU", "CPU", ""),
    ("CUDA", "CUDA", ""),
)
PRECISION_ITEMS = (
    ("AUTO", "Auto", "FP16 on an NVIDIA GPU, FP32 on the CPU"),
    ("FP32", "FP32", ""),
    ("FP16", "FP16", "CUDA only"),
    ("BF16", "BF16", ""),
)
_FILLS = {"MODEL": "", "VGG_MEAN": "vgg-mean", "UNIFORM_RANDOM": "uniform-random"}


class FAV_PG_settings(bpy.types.PropertyGroup):
    """Stylization settings of a scene (model, flow, filters, device, output folder)."""

    model: bpy.props.StringProperty(  # type: ignore
        name="Model", description="Style model: a name from the model folder or a .safetensors file")
    image_model: bpy.props.StringProperty(  # type: ignore
        name="Image Model", description="Model for the first frame: empty = the core's default, 'self' = the "
        "video model, else a name or .safetensors file")
    flow: bpy.props.EnumProperty(name="Flow", items=FLOW_ITEMS, default="PASS")  # type: ignore
    raft_weights: bpy.props.StringProperty(name="RAFT Weights", subtype="FILE_PATH")  # type: ignore
    min_filter: bpy.props.IntProperty(  # type: ignore
        name="Min Filter", default=7, min=0, max=31, description="Erosion of the reliability mask (k x k)")
    median_filter: bpy.props.IntProperty(  # type: ignore
        name="Median", default=3, min=1, max=15, description="Median filter on the output (1 = off)")
    fill: bpy.props.EnumProperty(name="Fill", items=FILL_ITEMS, default="MODEL")  # type: ignore
    direction: bpy.props.EnumProperty(name="Direction", items=DIRECTION_ITEMS, default="FORWARD")  # type: ignore
    device: bpy.props.EnumProperty(name="Device", items=DEVICE_ITEMS, default="PREFS")  # type: ignore
    precision: bpy.props.EnumProperty(name="Precision", items=PRECISION_ITEMS, default="AUTO")  # type: ignore
    output_dir: bpy.props.StringProperty(  # type: ignore
        name="Output Folder", subtype="DIR_PATH", default="//fav/",
        description="Where renders and stylized frames go (one sub-folder per strip / scene and model)")
    resume: bpy.props.BoolProperty(  # type: ignore
        name="Resume", default=True,
        description="Keep frames already stylized with the same settings and continue after the last one")
    reuse_renders: bpy.props.BoolProperty(  # type: ignore
        name="Reuse Renders", default=False,
        description="Stylize the EXR frames already rendered into the output folder instead of rendering again")

    # run-time state shown in the panels (written by the running operator)
    progress: bpy.props.FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")  # type: ignore
    status: bpy.props.StringProperty(name="Status")  # type: ignore
    running: bpy.props.BoolProperty(name="Running")  # type: ignore

    def to_config(self, prefs: HostPrefs, *, flow: str | None = None) -> StylizeOptions:
        """The stylization options these settings mean.

        Args:
            prefs: the user preferences (model folder, default device).
            flow: override of the flow setting ("dis" for footage, which has no Vector pass).

        Raises:
            HostError: no model, a model/weights path that does not exist, or an invalid combination.
        """
        image_model = self.image_model.strip()
        if image_model and image_model != "self":
            image_model = resolve_model(image_model, prefs.model_dir)
        device = prefs.device if self.device == "PREFS" else self.device.lower()
        return StylizeOptions(
            model=resolve_model(self.model, prefs.model_dir),
            image_model=image_model,
            flow=flow or self.flow.lower(),
            raft_weights=bpy.path.abspath(self.raft_weights) if self.raft_weights else "",
            min_filter=self.min_filter,
            median_filter=self.median_filter,
            fill=_FILLS[self.fill],
            backward=self.direction == "BACKWARD",
            device=device,
            precision=self.precision.lower(),
            resume=self.resume,
        )

    def to_cli_args(self, prefs: HostPrefs, *, flow: str | None = None) -> list[str]:
        """``fav stylize`` arguments for these settings (after INPUT and ``-o OUTPUT``)."""
        return self.to_config(prefs, flow=flow).to_cli_args()


CLASSES = (FAV_PG_settings,)


#: Status shown after loading a file that was saved while a run was going.
INTERRUPTED = "interrupted: the file was saved while stylizing; run again (Resume continues)"


@bpy.app.handlers.persistent
def clear_run_state(*_args: Any) -> None:
    """``load_post``: no run of a file just loaded can be alive (Blender ends modal operators on load), so the
    running flag a file saved during a run still holds is cleared; it would grey out Stylize for good."""
    for scene in bpy.data.scenes:
        settings = scene.fav_settings
        if settings.running:
            settings.running = False
            settings.status = INTERRUPTED


def register() -> None:
    bpy.types.Scene.fav_settings = bpy.props.PointerProperty(type=FAV_PG_settings)
    if clear_run_state not in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.append(clear_run_state)


def unregister() -> None:
    if clear_run_state in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(clear_run_state)
    del bpy.types.Scene.fav_settings
