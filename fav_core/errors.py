"""Typed errors of the core: one base class, caught once at each host/CLI boundary.

Every message is one line a user can act on: it names the file (when there is one) and what is wrong.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


class FavError(Exception):
    """Base of every error the core raises on purpose; ``str(e)`` is a one-line user message.

    Control characters that user text (file names, patterns) may bring into a message are shown escaped
    (a newline as ``\\n``), so the message stays one line whatever the input.
    """

    def __str__(self) -> str:
        text = super().__str__()
        if text.isprintable():
            return text
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ConfigError(FavError):
    """An option or a combination of options is invalid (caught before any work starts)."""


class InputError(FavError):
    """An input file is missing, unreadable or malformed.

    Args:
        path: the offending file (or pattern / folder).
        problem: what is wrong with it, in plain words.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str]]:
        """Pickle by (path, problem): the error survives a trip between processes (Ray, multiprocessing)."""
        return type(self), (self.path, self.problem)


class FlowFormatError(InputError):
    """A flow (.flo) or reliability (.pgm) file is malformed or does not fit the frames."""


class ModelLoadError(InputError):
    """A model file cannot be loaded safely (not safetensors, bad metadata, weights do not match)."""


class OutputError(InputError):
    """An output location cannot be written (unwritable folder, full disk, path escapes the folder)."""


class ShapeError(FavError, ValueError):
    """A tensor/array has the wrong shape for the function it was given to."""


class Cancelled(FavError):
    """The user cancelled a running job; everything written so far is whole."""


def check_shape(x: Any, spec: str, name: str = "tensor") -> dict[str, int]:
    """Check ``x.shape`` against a spec like ``"B 2 H W"`` and return the named sizes.

    Letters bind sizes (the same letter must match everywhere), digits must match exactly.

    Raises:
        ShapeError: "flow: expected (B, 2, H, W), got (1, 3, 64, 64)".
    """
    dims = spec.split()
    shape = tuple(int(s) for s in x.shape)
    want = "(" + ", ".join(dims) + ")"
    if len(shape) != len(dims):
        raise ShapeError(f"{name}: expected {want}, got {shape}")
    bound: dict[str, int] = {}
    for d, s in zip(dims, shape, strict=True):
        if d.isdigit():
            if int(d) != s:
                raise ShapeError(f"{name}: expected {want}, got {shape}")
        elif bound.setdefault(d, s) != s:
            raise ShapeError(f"{name}: expected {want}, got {shape}")
    return bound
