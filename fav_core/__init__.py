"""fast-artistic-videos core: temporally consistent neural style transfer (Ruder et al. 2018).

Public API (imported lazily so that ``import fav_core`` stays light and torch-free for hosts):

- :class:`fav_core.stylizer.Stylizer`, :class:`fav_core.stylizer.StylizerConfig`
- :func:`fav_core.modelfile.load_model`
- :class:`fav_core.errors.FavError` and its subclasses
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from fav_core.errors import (
    Cancelled,
    ConfigError,
    FavError,
    FlowFormatError,
    InputError,
    ModelLoadError,
    OutputError,
    ShapeError,
)

__version__ = "0.1.0"

_LAZY = {
    "Stylizer": "fav_core.stylizer",
    "StylizerConfig": "fav_core.stylizer",
    "load_model": "fav_core.modelfile",
}

__all__ = [
    "Cancelled",
    "ConfigError",
    "FavError",
    "FlowFormatError",
    "InputError",
    "ModelLoadError",
    "OutputError",
    "ShapeError",
    "Stylizer",
    "StylizerConfig",
    "load_model",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fav_core' has no attribute {name!r}")
