"""The node's knobs, declared once, and the one mapping from knob values to ``fav stylize`` arguments.

:data:`KNOBS` is the single source for the Group's user knobs (:mod:`fav_nuke.node` builds them from it) and for
reading them back (:func:`settings_from_values`). :func:`to_cli_args` is the only place that knows the core's
command line (docs/job-protocol.md). Pure Python: no ``nuke``, no numpy.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fav_core.errors import ConfigError
from fav_nuke.channels import VectorChannels, parse_vector_channels

FLOW_CHOICES = {
    "motion channels": "pass",
    "DIS (computed)": "dis",
    "DeepFlow (computed)": "deepflow",
    "RAFT (computed)": "raft",
}
"""Flow knob labels -> ``--flow`` values. "motion channels" reads the vectors rendered with the plate."""

FILL_CHOICES = {"model default": "", "vgg-mean": "vgg-mean", "uniform-random": "uniform-random"}
DIRECTION_CHOICES = {"forward": False, "backward": True}
DEVICE_CHOICES = ("auto", "cpu", "cuda")
PRECISION_CHOICES = ("auto", "fp32", "fp16", "bf16")


@dataclass(frozen=True)
class KnobSpec:
    """One user knob of the node.

    Attributes:
        name: knob name (stable: scripts store values under it).
        label: text shown in the properties panel.
        kind: ``tab``, ``file``, ``string``, ``int``, ``bool``, ``enum``, ``button`` or ``text``.
        default: initial value (enum: the label; button: the Python code it runs).
        choices: enum labels, in menu order.
        tooltip: help text.
    """

    name: str
    label: str
    kind: str
    default: Any = ""
    choices: tuple[str, ...] = ()
    tooltip: str = ""


KNOBS: tuple[KnobSpec, ...] = (
    KnobSpec("fav_tab", "Fast Artistic Videos", "tab"),
    KnobSpec("model", "video model", "file", "", tooltip="video model name (fav models) or .safetensors path"),
    KnobSpec("image_model", "image model", "string", "",
             tooltip="first-frame model name/path, 'self' = the video model; empty = the core's default"),
    KnobSpec("flow", "flow", "enum", "motion channels", tuple(FLOW_CHOICES),
             tooltip="motion channels: the vectors rendered with the plate (computed flow where they are "
             "invalid); otherwise flow computed from the plate"),
    KnobSpec("raft_weights", "RAFT weights", "file", "",
             tooltip="local RAFT weights file, needed for RAFT (computed); weights are never downloaded"),
    KnobSpec("backward_u", "backward u", "string", "backward.u", tooltip="channel holding backward u (x, pixels)"),
    KnobSpec("backward_v", "backward v", "string", "backward.v", tooltip="channel holding backward v (y up, pixels)"),
    KnobSpec("forward_u", "forward u", "string", "forward.u", tooltip="channel holding forward u (x, pixels)"),
    KnobSpec("forward_v", "forward v", "string", "forward.v", tooltip="channel holding forward v (y up, pixels)"),
    KnobSpec("min_filter", "min filter", "int", 7, tooltip="erosion of the reliability mask, k x k"),
    KnobSpec("median_filter", "median", "int", 3, tooltip="median filter on the output, k x k (1 = off)"),
    KnobSpec("fill", "fill", "enum", "model default", tuple(FILL_CHOICES),
             tooltip="what unreliable pixels of the warped previous frame are filled with"),
    KnobSpec("direction", "direction", "enum", "forward", tuple(DIRECTION_CHOICES)),
    KnobSpec("frame_range", "frame range", "string", "",
             tooltip="first-last (e.g. 1001-1100); empty = the plate's frame range"),
    KnobSpec("device", "device", "enum", "auto", DEVICE_CHOICES),
    KnobSpec("precision", "precision", "enum", "auto", PRECISION_CHOICES),
    KnobSpec("output_folder", "output folder", "file", "",
             tooltip="where the rendered plate and the stylized frames go; empty = next to the script"),
    KnobSpec("resume", "resume", "bool", True,
             tooltip="keep stylized frames of an earlier run and continue after the last whole one"),
    KnobSpec("core_python", "core python", "file", "",
             tooltip="Python interpreter with fav_core and torch installed; empty = $FAV_PYTHON or the saved one"),
    KnobSpec("stylize", "Stylize", "button", "import fav_nuke.render\nfav_nuke.render.on_stylize_button()"),
    KnobSpec("export_cattery", "Export for Cattery", "button",
             "import fav_nuke.render\nfav_nuke.render.on_export_cattery_button()",
             tooltip="export the image model as TorchScript for CatFileCreator (per-frame, no temporal "
             "consistency)"),
    KnobSpec("status", "", "text", "not stylized yet"),
)
"""Every user knob of the node, in panel order."""

VALUE_KNOBS: tuple[str, ...] = tuple(k.name for k in KNOBS if k.kind not in ("tab", "button", "text"))
"""Names of the knobs that hold settings (what :func:`settings_from_values` reads)."""

LATER_KNOBS: dict[str, Any] = {"raft_weights": ""}
"""Knobs added after the first release, with the value a node saved without them gets (older scripts load)."""


@dataclass(frozen=True)
class NodeSettings:
    """The node's settings, validated (everything the run needs apart from the frames).

    Attributes:
        model: video model name or path.
        image_model: first-frame model name/path, ``"self"``, or ``""`` for the core's default.
        flow: ``--flow`` value (``pass``, ``dis``, ``deepflow``, ``raft``).
        raft_weights: local RAFT weights file (required with ``flow == "raft"``, else unused).
        vectors: the channels holding the motion vectors (used when ``flow == "pass"``).
        min_filter: reliability-mask erosion size (>= 1).
        median_filter: output median size (>= 1; 1 = off).
        fill: ``--fill`` value or ``""`` for the model's training fill.
        backward: process from the last frame to the first.
        frame_range: the frame-range text as typed (parsed by :mod:`fav_nuke.frames`).
        device: ``auto``, ``cpu`` or ``cuda``.
        precision: ``auto`` (fp16 on CUDA, fp32 on the CPU), ``fp32``, ``fp16`` or ``bf16``.
        output_folder: job folder as typed (``""`` = default).
        resume: keep frames of an earlier run.
        core_python: interpreter as typed (``""`` = default).
    """

    model: str
    image_model: str = ""
    flow: str = "pass"
    raft_weights: str = ""
    vectors: VectorChannels = VectorChannels()
    min_filter: int = 7
    median_filter: int = 3
    fill: str = ""
    backward: bool = False
    frame_range: str = ""
    device: str = "auto"
    precision: str = "auto"
    output_folder: str = ""
    resume: bool = True
    core_python: str = ""


def _choice(name: str, value: Any, choices: Mapping[str, Any] | tuple[str, ...]) -> Any:
    if value not in choices:
        raise ConfigError(f"knob {name}: {value!r} is not one of {', '.join(map(repr, choices))}")
    return choices[value] if isinstance(choices, Mapping) else value


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ConfigError(f"knob {name}: expected a whole number, got {value!r}")
    if int(value) < minimum:
        raise ConfigError(f"knob {name}: must be >= {minimum}, got {int(value)}")
    return int(value)


def settings_from_values(values: Mapping[str, Any]) -> NodeSettings:
    """Validate knob values (as ``knob.value()`` returns them) into :class:`NodeSettings`.

    Args:
        values: knob name -> value for every name in :data:`VALUE_KNOBS` (enum knobs give their label); the
            :data:`LATER_KNOBS` may be absent (nodes saved before they existed).

    Raises:
        ConfigError: a missing knob, an empty model, an unknown choice, a bad number, bad channel names, or RAFT
            without weights.
    """
    missing = [n for n in VALUE_KNOBS if n not in values and n not in LATER_KNOBS]
    if missing:
        raise ConfigError(f"node is missing knob(s) {', '.join(missing)}; recreate it from the menu")
    model = str(values["model"]).strip()
    if not model:
        raise ConfigError("knob model: choose a video model (a name from 'fav models' or a .safetensors file)")
    flow = _choice("flow", values["flow"], FLOW_CHOICES)
    raft_weights = str(values.get("raft_weights", LATER_KNOBS["raft_weights"])).strip()
    if flow == "raft" and not raft_weights:
        raise ConfigError("knob raft_weights: RAFT needs a local weights file (weights are never downloaded)")
    return NodeSettings(
        model=model,
        image_model=str(values["image_model"]).strip(),
        flow=flow,
        raft_weights=raft_weights,
        vectors=parse_vector_channels(
            values["backward_u"], values["backward_v"], values["forward_u"], values["forward_v"]
        ),
        min_filter=_int("min_filter", values["min_filter"], 1),
        median_filter=_int("median_filter", values["median_filter"], 1),
        fill=_choice("fill", values["fill"], FILL_CHOICES),
        backward=_choice("direction", values["direction"], DIRECTION_CHOICES),
        frame_range=str(values["frame_range"]).strip(),
        device=_choice("device", values["device"], DEVICE_CHOICES),
        precision=_choice("precision", values["precision"], PRECISION_CHOICES),
        output_folder=str(values["output_folder"]).strip(),
        resume=bool(values["resume"]),
        core_python=str(values["core_python"]).strip(),
    )


def to_cli_args(settings: NodeSettings, input_pattern: str, output_pattern: str) -> list[str]:
    """The ``fav stylize`` arguments (after the sub-command) for one run.

    The rendered plate is scene-linear EXR (the internal Write writes raw), so ``--colorspace linear`` is
    passed explicitly. ``fav_core.jobclient.stylize_command`` adds the interpreter, the sub-command and the JSON
    progress (docs/job-protocol.md), as for every host.

    Args:
        settings: validated node settings.
        input_pattern: printf pattern of the rendered plate, e.g. ``/job/plate/plate.%04d.exr``.
        output_pattern: printf pattern of the stylized frames, e.g. ``/job/stylized/stylized.%04d.exr``.

    Returns:
        Argument list, starting with ``input_pattern``.
    """
    args = [input_pattern, "-o", output_pattern, "--model", settings.model]
    if settings.image_model:
        args += ["--image-model", settings.image_model]
    args += ["--flow", settings.flow]
    if settings.flow == "raft":
        args += ["--raft-weights", settings.raft_weights]
    if settings.flow == "pass":
        args += ["--vectors", "nuke"]
    args += ["--min-filter", str(settings.min_filter), "--median-filter", str(settings.median_filter)]
    if settings.fill:
        args += ["--fill", settings.fill]
    if settings.backward:
        args.append("--backward")
    args += ["--device", settings.device, "--precision", settings.precision, "--colorspace", "linear"]
    if not settings.resume:
        args.append("--no-resume")
    return args
