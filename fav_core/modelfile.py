"""Safe model files: one ``.safetensors`` file = weights + metadata JSON (header key ``fav_model``).

Nothing here ever unpickles: ``.pth``/``.pt``/``.t7``/pickle files are refused with the conversion route, and the
safetensors header is size-checked and parsed by us before any tensor is read. The metadata is validated before
the network is built, and the weights must match the built network exactly.

Name resolution (``load_model("candy-video")``): a path is used as is; a bare name ``n`` means the file
``n.safetensors`` in, in this order, every folder of ``$FAV_MODEL_PATH`` (``os.pathsep``-separated), the user
folder (``$XDG_DATA_HOME/fav/models``, default ``~/.local/share/fav/models``) and the repository's ``models/``.
"""
from __future__ import annotations

import json
import logging
import math
import os
import struct
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from fav_core.errors import ConfigError, FavError, ModelLoadError, OutputError
from fav_core.nets.grammar import parse_arch
from fav_core.nets.layers import NORMS, PADDINGS
from fav_core.nets.preprocess import PREPROCESSING_KINDS
from fav_core.nets.transformer import TransformerNet

log = logging.getLogger(__name__)

#: Version of the metadata layout written by :func:`save_model`.
FORMAT_VERSION = 1
#: Header key holding the metadata JSON.
META_KEY = "fav_model"
#: Model file suffix.
SUFFIX = ".safetensors"
#: Largest safetensors header we parse (a real model's header is a few kB).
MAX_HEADER_BYTES = 16 * 1024 * 1024
#: Suffixes of formats that need pickle / Torch7 deserialisation; refused with a conversion hint.
UNSAFE_SUFFIXES = (".pth", ".pt", ".t7", ".pkl", ".pickle", ".ckpt", ".bin", ".tar", ".npy", ".npz")
KINDS = ("image", "video")
FILLS = ("vgg-mean", "uniform-random")
_IN_CHANNELS = {"image": 3, "video": 7}
_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64,
           "I64": torch.int64}
_DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I64": 8}
_CONVERT_HINT = (
    "this is not a safe model file; pickle-based checkpoints (.pth/.pt/.ckpt/.pkl) are never loaded, since "
    "unpickling can run code — only if you trust its origin, load it once with torch.load(path, weights_only=True) "
    "and write it with fav_core.modelfile.save_model(...) to .safetensors; original Torch7 .t7 models are "
    "imported with `fav import-t7` (a pure reader, no code runs)"
)

#: Appended when a file is not safetensors at all (an old-protocol pickle, another format).
_NOT_SAFETENSORS = "not a safetensors model file; " + _CONVERT_HINT.split("; ", 1)[1]


@dataclass(frozen=True, kw_only=True)
class ModelMeta:
    """Everything needed to rebuild and use a network, stored with its weights.

    Attributes:
        kind: ``"image"`` (3 inputs: content) or ``"video"`` (7 inputs: content, masked prior, mask).
        arch: architecture string (:mod:`fav_core.nets.grammar`).
        in_channels: 3 for image models, 7 for video models.
        style_name: short name of the style, e.g. ``"candy"``.
        padding, norm, tanh_constant: network build settings (:class:`TransformerNet`).
        preprocessing: ``"vgg"`` or ``"resnet"`` (the pre-space of the net's inputs and outputs).
        fill: how the video model was trained to see unreliable prior pixels: ``"vgg-mean"`` (zeros in
            pre-space) or ``"uniform-random"``.
        style_image: the style image the model was trained on (file name), if known.
        trained_with: free-form JSON-serialisable record (command, iterations, loss network, data ...).
        description: free text.
        format_version: metadata layout version (:data:`FORMAT_VERSION`).

    Raises:
        ConfigError: a field has the wrong type or an invalid value (the message names the field).
    """

    kind: str
    arch: str
    in_channels: int
    style_name: str
    padding: str = "reflect-start"
    norm: str = "instance"
    tanh_constant: float = 150.0
    preprocessing: str = "vgg"
    fill: str = "vgg-mean"
    style_image: str | None = None
    trained_with: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        def bad(name: str, problem: str) -> ConfigError:
            return ConfigError(f"model metadata field {name!r}: {problem}")

        def choice(name: str, allowed: tuple[str, ...]) -> None:
            value = getattr(self, name)
            if not isinstance(value, str) or value not in allowed:
                raise bad(name, f"expected one of {', '.join(allowed)}, got {value!r}")

        fv = self.format_version
        if isinstance(fv, bool) or not isinstance(fv, int) or fv < 1:
            raise bad("format_version", f"expected a positive integer, got {fv!r}")
        if fv > FORMAT_VERSION:
            raise bad("format_version", f"version {fv} is newer than this fav supports ({FORMAT_VERSION}); update fav")
        choice("kind", KINDS)
        choice("padding", PADDINGS)
        choice("norm", NORMS)
        choice("preprocessing", PREPROCESSING_KINDS)
        choice("fill", FILLS)
        if not isinstance(self.arch, str):
            raise bad("arch", f"expected a string, got {type(self.arch).__name__}")
        parse_arch(self.arch)  # ConfigError names the bad token
        ch = self.in_channels
        if isinstance(ch, bool) or not isinstance(ch, int):
            raise bad("in_channels", f"expected an integer, got {ch!r}")
        if ch != _IN_CHANNELS[self.kind]:
            raise bad("in_channels", f"a {self.kind} model has {_IN_CHANNELS[self.kind]} input channels, got {ch}")
        tc = self.tanh_constant
        if isinstance(tc, bool) or not isinstance(tc, int | float) or not math.isfinite(tc) or tc <= 0:
            raise bad("tanh_constant", f"expected a finite number > 0, got {tc!r}")
        object.__setattr__(self, "tanh_constant", float(tc))
        if not isinstance(self.style_name, str) or not self.style_name.strip():
            raise bad("style_name", f"expected a non-empty string, got {self.style_name!r}")
        if self.style_image is not None and not isinstance(self.style_image, str):
            raise bad("style_image", f"expected a string or null, got {type(self.style_image).__name__}")
        if not isinstance(self.description, str):
            raise bad("description", f"expected a string, got {type(self.description).__name__}")
        if not isinstance(self.trained_with, dict):
            raise bad("trained_with", f"expected a JSON object, got {type(self.trained_with).__name__}")
        try:
            copy = json.loads(json.dumps(self.trained_with, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise bad("trained_with", f"must be JSON-serialisable ({e})") from None
        object.__setattr__(self, "trained_with", copy)  # own copy: the caller's dict cannot change us

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ModelMeta:
        """Build from a parsed JSON object; unknown or missing keys are errors.

        Raises:
            ConfigError: not an object, unknown/missing keys, or invalid values.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"model metadata must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"model metadata has unknown field(s): {', '.join(unknown)}")
        required = ("kind", "arch", "in_channels", "style_name")
        missing = [k for k in required if k not in data]
        if missing:
            raise ConfigError(f"model metadata lacks required field(s): {', '.join(missing)}")
        return cls(**data)


@dataclass(frozen=True)
class StyleModel:
    """A loaded model: the network (eval mode, float32), its metadata and the file it came from."""

    net: TransformerNet
    meta: ModelMeta
    path: Path


@dataclass(frozen=True)
class ModelInfo:
    """One entry of :func:`list_models`: a model's name (file stem), file and metadata (weights not read)."""

    name: str
    path: Path
    meta: ModelMeta


# ----------------------------------------------------------------------------------------------- saving


def build_net(meta: ModelMeta) -> TransformerNet:
    """A freshly initialised network for ``meta``.

    Raises:
        ConfigError: the architecture cannot be built (e.g. channel mismatch).
    """
    return TransformerNet(meta.arch, meta.in_channels, norm=meta.norm, padding=meta.padding,
                          tanh_constant=meta.tanh_constant)


def _check_net_matches(net: torch.nn.Module, meta: ModelMeta) -> None:
    for name in ("arch", "in_channels", "norm", "padding", "tanh_constant"):
        if not hasattr(net, name):
            raise ConfigError(f"save_model needs a TransformerNet (the network has no {name!r})")
        if getattr(net, name) != getattr(meta, name):
            raise ConfigError(
                f"network and metadata disagree on {name}: {getattr(net, name)!r} vs {getattr(meta, name)!r}"
            )


def save_model(path: str | Path, net: torch.nn.Module, meta: ModelMeta, dtype: torch.dtype = torch.float16) -> Path:
    """Write ``net``'s weights and ``meta`` to one ``.safetensors`` file (atomically).

    Args:
        path: destination; must end in ``.safetensors``.
        net: the network (a :class:`TransformerNet` whose settings match ``meta``).
        meta: metadata, stored as JSON under the header key ``fav_model``.
        dtype: storage type of floating point tensors (float16 halves the file; load casts to float32).

    Returns:
        The written path.

    Raises:
        ConfigError: net and meta disagree, or a weight does not fit ``dtype``.
        OutputError: the file cannot be written.
    """
    path = Path(path)
    if path.suffix != SUFFIX:
        raise OutputError(path, f"model files must end in {SUFFIX}")
    if dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ConfigError(f"save_model dtype must be float16, bfloat16 or float32, got {dtype}")
    _check_net_matches(net, meta)
    tensors: dict[str, torch.Tensor] = {}
    for key, value in net.state_dict().items():
        t = value.detach().to("cpu")
        t = t.to(dtype) if t.is_floating_point() else t
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ConfigError(f"weight {key!r} is not finite in {dtype} (save it as float32: --dtype float32)")
        tensors[key] = t.clone().contiguous()
    header = {META_KEY: json.dumps(meta.to_dict(), sort_keys=True, allow_nan=False), "format": "pt"}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = save(tensors, metadata=header)  # bytes: safetensors' own files are mode 0600, unreadable by a farm
        with open(tmp, "wb") as fh:  # the umask's mode, like any file the user writes
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # nothing was written there
        raise OutputError(path, f"cannot write model file ({e.strerror or e})") from None
    return path


# ---------------------------------------------------------------------------------------------- reading


def _looks_unsafe(head: bytes) -> bool:
    """Whether the first bytes are a pickle (protocol >= 2) or a ``torch.save`` zip rather than safetensors."""
    if len(head) >= 9 and head[8:9] == b"{":
        return False  # a safetensors header: 8-byte length, then the JSON object
    return head[:1] == b"\x80" or head[:4] == b"PK\x03\x04"


def read_header(path: str | Path) -> tuple[dict[str, Any], int]:
    """Read and check a safetensors header without touching the tensors.

    Returns:
        (header dict, header length in bytes). Every tensor entry has been checked: known dtype, integer
        shape, offsets that tile the data section exactly.

    Raises:
        ModelLoadError: not a safetensors file (pickle, zip, truncated, huge or malformed header).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.suffix.lower() in UNSAFE_SUFFIXES:
            raise ModelLoadError(path, _CONVERT_HINT)
        with path.open("rb") as f:
            head = f.read(9)
            if _looks_unsafe(head):
                raise ModelLoadError(path, _CONVERT_HINT)
            if len(head) < 8:
                raise ModelLoadError(path, f"file is truncated ({size} bytes; no safetensors header)")
            (n,) = struct.unpack("<Q", head[:8])
            if n > MAX_HEADER_BYTES:
                raise ModelLoadError(path, f"safetensors header claims {n} bytes (limit {MAX_HEADER_BYTES}); "
                                     f"{_NOT_SAFETENSORS}")
            if 8 + n > size:
                raise ModelLoadError(path, f"file is truncated (header needs {8 + n} bytes, file has {size})")
            f.seek(8)
            raw = f.read(n)
    except OSError as e:
        raise ModelLoadError(path, f"cannot read model file ({e.strerror or e})") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise ModelLoadError(path, f"safetensors header is not valid JSON; {_NOT_SAFETENSORS}") from None
    if not isinstance(header, dict):
        raise ModelLoadError(path, "safetensors header is not a JSON object")
    _check_layout(path, header, size - 8 - n)
    return header, n


def _check_layout(path: Path, header: dict[str, Any], data_bytes: int) -> None:
    spans = []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        ok = (isinstance(entry, dict) and entry.get("dtype") in _DTYPES
              and isinstance(entry.get("shape"), list) and all(isinstance(s, int) and s >= 0 for s in entry["shape"])
              and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2
              and all(isinstance(o, int) for o in entry["data_offsets"]))
        if not ok:
            raise ModelLoadError(path, f"tensor {key!r}: malformed or unsupported entry in the safetensors header")
        start, end = entry["data_offsets"]
        if end - start != math.prod(entry["shape"]) * _DTYPE_BYTES[entry["dtype"]]:
            raise ModelLoadError(path, f"tensor {key!r}: byte range does not match its shape and dtype")
        spans.append((start, end, key))
    pos = 0
    for start, end, key in sorted(spans):
        if start != pos:
            raise ModelLoadError(path, f"tensor {key!r}: data offsets overlap or leave gaps")
        pos = end
    if pos != data_bytes:
        what = "truncated" if pos > data_bytes else "longer than its tensors"
        raise ModelLoadError(path, f"file is {what} (tensors need {pos} data bytes, file has {data_bytes})")


def read_meta(path: str | Path) -> ModelMeta:
    """The validated :class:`ModelMeta` of a model file (weights are not read).

    Raises:
        ModelLoadError: unsafe/malformed file, missing or invalid metadata.
    """
    path = Path(path)
    header, _ = read_header(path)
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or META_KEY not in meta:
        raise ModelLoadError(path, f"no '{META_KEY}' metadata in the safetensors header (not a fav model)")
    try:
        return ModelMeta.from_dict(json.loads(meta[META_KEY]))
    except (TypeError, ValueError, RecursionError, FavError) as e:  # bad/nested JSON, or a refused field
        raise ModelLoadError(path, f"invalid metadata: {e}") from None


def _check_shapes(path: Path, net: torch.nn.Module, header: dict[str, Any]) -> None:
    """Compare the tensors a (meta-device) net needs with the header's entries; nothing is read or allocated."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    stored = {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"}
    for key in sorted(set(expected) | set(stored)):
        if key not in stored:
            raise ModelLoadError(path, f"weights do not match the architecture: missing tensor {key!r}")
        if key not in expected:
            raise ModelLoadError(path, f"weights do not match the architecture: unexpected tensor {key!r}")
        if expected[key] != stored[key]:
            raise ModelLoadError(
                path, f"weights do not match the architecture: tensor {key!r} has shape {stored[key]}, "
                f"expected {expected[key]}")


def _load_weights(path: Path, net: TransformerNet) -> None:
    expected = net.state_dict()
    try:
        stored = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelLoadError(path, f"cannot read the weights ({e})") from None
    for key in sorted(set(expected) | set(stored)):
        if key not in stored:
            raise ModelLoadError(path, f"weights do not match the architecture: missing tensor {key!r}")
        if key not in expected:
            raise ModelLoadError(path, f"weights do not match the architecture: unexpected tensor {key!r}")
        want, got = expected[key], stored[key]
        if tuple(want.shape) != tuple(got.shape):
            raise ModelLoadError(
                path, f"weights do not match the architecture: tensor {key!r} has shape {tuple(got.shape)}, "
                f"expected {tuple(want.shape)}")
        if want.is_floating_point() != got.is_floating_point():
            raise ModelLoadError(path, f"tensor {key!r} has dtype {got.dtype}, expected {want.dtype}")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise ModelLoadError(path, f"tensor {key!r} contains NaN or infinite values")
        stored[key] = got.to(want.dtype)
    net.load_state_dict(stored, strict=True)


def load_model(path_or_name: str | Path, device: str | torch.device = "cpu") -> StyleModel:
    """Load a model by path or name; see the module docstring for the search order.

    Args:
        path_or_name: a ``.safetensors`` path, or a bare model name (``"candy-video"``).
        device: where to put the network.

    Returns:
        :class:`StyleModel` with the network in eval mode, float32, on ``device``.

    Raises:
        ModelLoadError: unknown name (the message lists the available ones), unsafe or malformed file,
            invalid metadata, or weights that do not match the architecture.
    """
    path = resolve_model(path_or_name)
    meta = read_meta(path)
    try:
        with torch.device("meta"):  # no memory: a header may claim an arch with absurd channel counts
            shell = build_net(meta)
    except ConfigError as e:
        raise ModelLoadError(path, f"invalid architecture in metadata: {e}") from None
    _check_shapes(path, shell, read_header(path)[0])  # before the real net (and its memory) exists
    net = build_net(meta)
    _load_weights(path, net)
    net.eval()
    net.requires_grad_(False)
    return StyleModel(net=net.to(device), meta=meta, path=path)


# ------------------------------------------------------------------------------------------ name lookup


def model_search_dirs() -> list[Path]:
    """Folders searched for bare model names, in order: $FAV_MODEL_PATH, user folder, shipped ``models/``."""
    dirs = [Path(p).expanduser() for p in os.environ.get("FAV_MODEL_PATH", "").split(os.pathsep) if p]
    xdg = os.environ.get("XDG_DATA_HOME", "")
    data_home = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    dirs.append(data_home / "fav" / "models")
    dirs.append(Path(__file__).resolve().parents[1] / "models")
    return dirs


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or (os.altsep is not None and os.altsep in text) or \
        Path(text).suffix.lower() in (SUFFIX, *UNSAFE_SUFFIXES)


def _available_names() -> list[str]:
    names: list[str] = []
    for d in model_search_dirs():
        if d.is_dir():
            names.extend(p.stem for p in sorted(d.glob(f"*{SUFFIX}")) if p.stem not in names)
    return names


def resolve_model(path_or_name: str | Path) -> Path:
    """The file a path or bare model name refers to (no content checks).

    Raises:
        ModelLoadError: the path does not exist, or no folder has the name (lists the available names).
    """
    text = str(path_or_name)
    if not text:
        raise ModelLoadError("<empty>", "no model name or path given")
    if isinstance(path_or_name, Path) or _looks_like_path(text):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ModelLoadError(path, "no such model file")
        return path
    for d in model_search_dirs():
        candidate = d / f"{text}{SUFFIX}"
        if candidate.is_file():
            return candidate
    if Path(text).is_file():
        return Path(text)
    names = _available_names()
    listing = ", ".join(names) if names else "none installed"
    raise ModelLoadError(text, f"unknown model name (available: {listing}; set FAV_MODEL_PATH to add folders)")


def list_models() -> list[ModelInfo]:
    """Every model reachable by name, first occurrence first (later folders cannot shadow earlier ones).

    Files that cannot be read or lack valid metadata are skipped with a logged warning.
    """
    infos: list[ModelInfo] = []
    seen: set[str] = set()
    for d in model_search_dirs():
        if not d.is_dir():
            continue
        for path in sorted(d.glob(f"*{SUFFIX}")):
            if path.stem in seen:
                continue
            seen.add(path.stem)  # a broken file still shadows later folders, exactly as in resolve_model
            try:
                meta = read_meta(path)
            except ModelLoadError as e:
                log.warning("skipping model file: %s", e)
                continue
            infos.append(ModelInfo(name=path.stem, path=path, meta=meta))
    return infos
