"""The GUI's settings and the one mapping from them to ``fav stylize`` arguments (docs/job-protocol.md).

The preview parses exactly these arguments with the core's own ``stylize`` parser, so a preview and the job
built from the same :class:`GuiSettings` use the same :class:`fav_core.stylizer.StylizerConfig` and flow.
Pure Python (no Qt, no torch): Nuke imports it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from fav_core.errors import ConfigError

FLOWS = ("dis", "deepflow", "raft", "files", "pass")
"""``--flow`` values the standalone window offers."""
FILLS = ("", "vgg-mean", "uniform-random")
"""``--fill`` values; ``""`` = the video model's training fill."""
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class GuiSettings:
    """What the settings panel edits (validated on construction).

    Attributes:
        model: video model name (``fav models``) or ``.safetensors`` path; ``""`` = not chosen yet.
        image_model: first-frame model name/path, ``"self"``, or ``""`` for the core's default.
        flow: ``--flow`` value, one of :data:`FLOWS`.
        flow_pattern: ``--flow-pattern`` (only with ``flow == "files"``).
        occlusions_pattern: ``--occlusions-pattern`` (only with ``flow == "files"``).
        raft_weights: ``--raft-weights`` (only with ``flow == "raft"``).
        min_filter: ``--min-filter`` k (odd, 1..31).
        median_filter: ``--median-filter`` k (odd, 1..31; 1 = off).
        fill: ``--fill`` value or ``""``.
        device: ``--device`` value.
    """

    model: str = ""
    image_model: str = ""
    flow: str = "dis"
    flow_pattern: str = ""
    occlusions_pattern: str = ""
    raft_weights: str = ""
    min_filter: int = 7
    median_filter: int = 3
    fill: str = ""
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.flow not in FLOWS:
            raise ConfigError(f"flow must be one of {', '.join(FLOWS)}, got {self.flow!r}")
        if self.fill not in FILLS:
            raise ConfigError(f"fill must be vgg-mean, uniform-random or empty, got {self.fill!r}")
        for name in ("min_filter", "median_filter"):
            k = getattr(self, name)
            if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 31 or k % 2 == 0:
                raise ConfigError(f"{name.replace('_', ' ')} must be an odd number in 1..31, got {k!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for QSettings)."""
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> GuiSettings:
        """Rebuild from stored values; unknown keys are ignored, missing ones take the defaults.

        Ints stored by QSettings may come back as strings; they are converted here.

        Raises:
            ConfigError: a stored value is invalid.
        """
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data or data[f.name] is None:
                continue
            value = data[f.name]
            if f.type in ("int", int):
                try:
                    value = int(value)
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"stored setting {f.name}: not a number ({value!r})") from exc
            else:
                value = str(value)
            kwargs[f.name] = value
        return cls(**kwargs)


def stylize_argv(settings: GuiSettings, input_path: str, output: str) -> list[str]:
    """``fav stylize`` arguments (from ``stylize`` on, without the interpreter) for these settings.

    Args:
        settings: the panel's settings.
        input_path: the clip (video, pattern or folder).
        output: output folder, pattern or video file.

    Returns:
        e.g. ``["stylize", clip, "-o", out, "--model", m, "--flow", "dis", ...]``; progress is not included.

    Raises:
        ConfigError: no model chosen, or the flow source lacks its files.
    """
    if not settings.model.strip():
        raise ConfigError("choose a video model (a name from 'fav models' or a .safetensors file)")
    if not str(input_path).strip():
        raise ConfigError("open a clip first (video file, image sequence or folder of frames)")
    argv = ["stylize", str(input_path), "-o", str(output), "--model", settings.model.strip()]
    if settings.image_model.strip():
        argv += ["--image-model", settings.image_model.strip()]
    argv += ["--flow", settings.flow]
    if settings.flow == "files":
        if not settings.flow_pattern.strip() or not settings.occlusions_pattern.strip():
            raise ConfigError("flow 'files' needs a flow pattern and an occlusions pattern")
        argv += ["--flow-pattern", settings.flow_pattern.strip(),
                 "--occlusions-pattern", settings.occlusions_pattern.strip()]
    if settings.flow == "raft":
        if not settings.raft_weights.strip():
            raise ConfigError("flow 'raft' needs a local RAFT weights file (weights are never downloaded)")
        argv += ["--raft-weights", settings.raft_weights.strip()]
    argv += ["--min-filter", str(settings.min_filter), "--median-filter", str(settings.median_filter)]
    if settings.fill:
        argv += ["--fill", settings.fill]
    argv += ["--device", settings.device]
    return argv
