"""``fav models``: list shipped and user models with their metadata.

A name found in several folders resolves to the first one ($FAV_MODEL_PATH, then the user folder, then the shipped
``models/``); the later files are listed as ``shadowed`` so that a stale copy earlier on the path is visible.
A file that cannot be read still takes its name (exactly as ``--model NAME`` resolves it): a warning names the
files it hides.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list available models (shipped, user folder, $FAV_MODEL_PATH)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def files_by_name() -> dict[str, list[Path]]:
    """Every ``.safetensors`` file of the model folders by model name, in search order (the first one is used)."""
    from fav_core.modelfile import SUFFIX, model_search_dirs

    found: dict[str, list[Path]] = {}
    for d in model_search_dirs():
        if d.is_dir():
            for path in sorted(d.glob(f"*{SUFFIX}")):
                found.setdefault(path.stem, []).append(path)
    return found


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from fav_core.modelfile import list_models

    for entry in os.environ.get("FAV_MODEL_PATH", "").split(os.pathsep):
        if entry and not Path(entry).expanduser().is_dir():
            log.warning("FAV_MODEL_PATH entry %s is not a folder; no models are read from it", entry)
    infos = list_models()
    files = files_by_name()
    listed = {m.name for m in infos}
    for name, paths in files.items():
        if name not in listed and len(paths) > 1:
            log.warning("model name %r is taken by the unreadable %s, which hides %s", name, paths[0],
                        ", ".join(map(str, paths[1:])))
    if args.json:
        print(json.dumps([{"name": m.name, "path": str(m.path), "meta": asdict(m.meta),
                           "shadowed": [str(p) for p in files.get(m.name, [])[1:]]} for m in infos], indent=1))
        return 0
    if not infos:
        print("no models found (set FAV_MODEL_PATH or put .safetensors models in the user model folder)")
        return 0
    width = max(len(m.name) for m in infos)
    for m in infos:
        meta = m.meta
        print(f"{m.name:<{width}}  {meta.kind:<5}  in={meta.in_channels}  style={meta.style_name}  "
              f"arch={meta.arch}  fill={meta.fill}  {m.path}")
        for hidden in files.get(m.name, [])[1:]:
            print(f"{'':<{width}}  shadowed: {hidden}")
    return 0
