"""Resumable training state in safetensors (no pickle): optimizer tensors, RNG states and a JSON header.

A checkpoint of a run is two files in the run folder:
- `<name>.safetensors`: the model in our model format (`fav_core.modelfile.save_model`), loadable by `fav`.
- `<name>-state.safetensors`: the network weights in float32 (`net/<state-dict key>`), the optimizer state
  flattened to tensors (`opt/<param index>/<field>`), the RNG states as uint8 tensors (`rng/torch`, `rng/data`,
  `rng/cuda`), and under the header key `fav_training` a JSON object with the iteration, the optimizer's param
  groups, the data read positions, the loss history and the training config.

The state file alone is a whole snapshot (one atomic rename), so a run killed between the two writes of a
checkpoint still resumes exactly: resume takes the weights from the state file. State files written before the
weights were stored there fall back to the model file, which must then be at the same iteration.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from fav_core.errors import InputError, OutputError

STATE_KEY = "fav_training"
#: Prefix of the network weights in a state file.
WEIGHT_PREFIX = "net/"


@dataclass
class TrainState:
    """Everything besides the weights that a true resume needs.

    Attributes:
        iteration: Last completed (1-based) iteration.
        history: Loss histories: name -> list of [iteration, value].
        data_state: Read positions of the data banks.
        config: The training config as a dict (checked on resume).
        elapsed_s: Training wall time so far, in seconds.
    """

    iteration: int = 0
    history: dict[str, list[list[float]]] = field(default_factory=dict)
    data_state: dict[str, int] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0


def flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """Split an optimizer state dict into named tensors and JSON-able param groups.

    Returns:
        (tensors `opt/<index>/<field>`, param_groups). Non-tensor per-parameter fields are stored as 0-d
        float64 tensors.
    """
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for index, fields in state["state"].items():
        for name, value in fields.items():
            tensor = value if isinstance(value, torch.Tensor) else torch.tensor(float(value), dtype=torch.float64)
            tensors[f"opt/{index}/{name}"] = tensor.detach().cpu().contiguous()
    return tensors, state["param_groups"]


def unflatten_optimizer(tensors: dict[str, torch.Tensor], param_groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer`: an optimizer state dict for `load_state_dict`."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("opt/"):
            _, index, name = key.split("/", 2)
            state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": param_groups}


def rng_tensors(data_generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Current RNG states (global torch CPU, the data generator, CUDA if present) as uint8 tensors."""
    out = {"rng/torch": torch.get_rng_state(), "rng/data": data_generator.get_state()}
    if torch.cuda.is_available():
        out["rng/cuda"] = torch.cuda.get_rng_state()
    return out


def restore_rng(tensors: dict[str, torch.Tensor], data_generator: torch.Generator) -> None:
    """Set the RNG states saved by :func:`rng_tensors`."""
    torch.set_rng_state(tensors["rng/torch"])
    data_generator.set_state(tensors["rng/data"])
    if "rng/cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng/cuda"])


def save_state(
    path: str | Path,
    optimizer: torch.optim.Optimizer,
    data_generator: torch.Generator,
    state: TrainState,
    weights: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write the training state atomically (temp file, fsync, rename), readable as the umask allows.

    Args:
        path: Destination file.
        optimizer: Its state is stored.
        data_generator: Its RNG state is stored (with the global torch RNG).
        state: Iteration, history, data positions, config.
        weights: The network's state dict, stored in float32 under `net/<key>` (read by :func:`load_weights`).

    Raises:
        OutputError: the file cannot be written.
    """
    path = Path(path)
    tensors, groups = flatten_optimizer(optimizer)
    tensors.update(rng_tensors(data_generator))
    for key, value in (weights or {}).items():
        value = value.detach().to("cpu")
        tensors[f"{WEIGHT_PREFIX}{key}"] = (value.float() if value.is_floating_point() else value).contiguous()
    header = {
        "iteration": state.iteration,
        "param_groups": groups,
        "data_state": state.data_state,
        "history": state.history,
        "config": state.config,
        "elapsed_s": state.elapsed_s,
    }
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        # written through open() so that the file gets the user's umask (safetensors' save_file makes 0600 files)
        with open(tmp, "wb") as handle:
            handle.write(save(tensors, metadata={STATE_KEY: json.dumps(header)}))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(path, f"cannot write the training state ({exc.strerror or exc})") from None
    finally:  # also on a second Ctrl-C (KeyboardInterrupt) in the middle of the write
        tmp.unlink(missing_ok=True)


def load_state(
    path: str | Path,
    optimizer: torch.optim.Optimizer,
    data_generator: torch.Generator,
) -> TrainState:
    """Restore optimizer and RNG states from :func:`save_state` output and return the rest.

    Raises:
        InputError: missing or malformed file.
    """
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = json.loads((handle.metadata() or {})[STATE_KEY])
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (OSError, KeyError, ValueError, SafetensorError) as exc:
        raise InputError(path, f"not a training-state file ({exc})") from None
    optimizer.load_state_dict(unflatten_optimizer(tensors, header["param_groups"]))
    restore_rng(tensors, data_generator)
    return TrainState(
        iteration=int(header["iteration"]),
        history={k: [list(p) for p in v] for k, v in header["history"].items()},
        data_state={k: int(v) for k, v in header["data_state"].items()},
        config=dict(header["config"]),
        elapsed_s=float(header.get("elapsed_s", 0.0)),
    )


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The network weights stored in a state file by :func:`save_state` (empty for older state files).

    Raises:
        InputError: missing or malformed file.
    """
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {
                key[len(WEIGHT_PREFIX):]: handle.get_tensor(key)
                for key in handle.keys()
                if key.startswith(WEIGHT_PREFIX)
            }
    except (OSError, ValueError, SafetensorError) as exc:
        raise InputError(path, f"not a training-state file ({exc})") from None


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of a training-state file (iteration, config, history, ...) without loading any tensor.

    Raises:
        InputError: missing or malformed file.
    """
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = json.loads((handle.metadata() or {})[STATE_KEY])
        int(header["iteration"])
        dict(header["config"])
    except (OSError, KeyError, ValueError, TypeError, SafetensorError) as exc:
        raise InputError(path, f"not a training-state file ({exc})") from None
    return header


def state_iteration(path: str | Path) -> int:
    """The iteration a training-state file was saved at (reads the header only; no optimizer is needed).

    Raises:
        InputError: missing or malformed file.
    """
    return int(read_header(path)["iteration"])
