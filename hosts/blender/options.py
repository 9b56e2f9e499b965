"""Stylization options as plain data (no ``bpy``): the one mapping to the ``fav stylize`` command line.

``properties.FAV_PG_settings.to_config()`` builds a :class:`StylizeOptions`; the job runner turns it into
arguments for ``python -m fav_core.cli stylize`` (see docs/job-protocol.md), both for the child process and
for the in-process runner, so the two paths can never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import HostError

FLOWS: tuple[str, ...] = ("pass", "dis", "deepflow", "raft")
FILLS: tuple[str, ...] = ("", "vgg-mean", "uniform-random")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "fp16", "bf16")


@dataclass(frozen=True)
class StylizeOptions:
    """What to run, independent of where the frames come from.

    Attributes:
        model: model name (looked up by the core) or path to a ``.safetensors`` file.
        image_model: model for the first frame: "" = the core's default, "self" = ``model``, else name/path.
        flow: "pass" (render Vector pass, computed flow where invalid) | "dis" | "deepflow" | "raft".
        min_filter: size of the min filter on the reliability mask (reference: 7), 0 = off.
        median_filter: median filter size on the output (1 = off; the core's default is 3).
        fill: how unreliable prior pixels are filled: "" = the model's training fill, "vgg-mean",
            "uniform-random".
        backward: process the sequence last frame first.
        raft_weights: local RAFT weights file (needed with flow "raft"; never downloaded).
        device: "auto" | "cpu" | "cuda".
        precision: "auto" (fp16 on CUDA, fp32 on the CPU) | "fp32" | "fp16" | "bf16".
        num_frames: stop after this many frames (None = all).
        resume: keep frames already in the output and continue after the last whole one.
    """

    model: str
    image_model: str = ""
    flow: str = "dis"
    min_filter: int = 7
    median_filter: int = 3
    fill: str = ""
    backward: bool = False
    raft_weights: str = ""
    device: str = "auto"
    precision: str = "auto"
    num_frames: int | None = None
    resume: bool = True

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise HostError("no model set: choose a style model (name or .safetensors file)")
        for name, value, allowed in (
            ("flow", self.flow, FLOWS),
            ("fill", self.fill, FILLS),
            ("device", self.device, DEVICES),
            ("precision", self.precision, PRECISIONS),
        ):
            if value not in allowed:
                raise HostError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.min_filter < 0:
            raise HostError(f"min filter size must be >= 0, got {self.min_filter}")
        if self.median_filter < 1:
            raise HostError(f"median filter size must be >= 1 (1 = off), got {self.median_filter}")
        if self.flow == "raft" and not self.raft_weights:
            raise HostError("RAFT flow needs a local weights file (set RAFT Weights)")
        if self.num_frames is not None and self.num_frames < 1:
            raise HostError(f"num_frames must be >= 1, got {self.num_frames}")

    def to_cli_args(self) -> list[str]:
        """Arguments for ``fav stylize`` after INPUT and ``-o OUTPUT`` (``--progress`` is added by the runner)."""
        args = ["--model", self.model, "--flow", self.flow]
        if self.image_model:
            args += ["--image-model", self.image_model]
        if self.flow == "pass":
            args += ["--vectors", "blender"]
        if self.flow == "raft":
            args += ["--raft-weights", self.raft_weights]
        args += ["--min-filter", str(self.min_filter), "--median-filter", str(self.median_filter)]
        if self.fill:
            args += ["--fill", self.fill]
        args += ["--device", self.device, "--precision", self.precision]
        if self.backward:
            args.append("--backward")
        if self.num_frames is not None:
            args += ["--num-frames", str(self.num_frames)]
        if not self.resume:
            args.append("--no-resume")
        return args


def resolve_model(model: str, model_dir: str) -> str:
    """Turn a model setting into what the core gets: a path when it names a file, else the name.

    A bare name is looked up as ``<model_dir>/<name>.safetensors`` first (the preference), then left to the
    core's own model search.

    Raises:
        HostError: the setting looks like a path (has a folder or the .safetensors suffix) but no such file.
    """
    text = model.strip()
    if not text:
        raise HostError("no model set: choose a style model (name or .safetensors file)")
    path = Path(text).expanduser()
    if path.suffix == ".safetensors" or len(path.parts) > 1:
        if not path.is_file():
            raise HostError(f"{path}: model file not found")
        return str(path.resolve())
    if model_dir:
        candidate = Path(model_dir).expanduser() / f"{text}.safetensors"
        if candidate.is_file():
            return str(candidate.resolve())
    return text
