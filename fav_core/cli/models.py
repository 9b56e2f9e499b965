"""``fav models``: list shipped and user models with their metadata."""
from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list available models (shipped, user folder, $FAV_MODEL_PATH)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from fav_core.modelfile import list_models

    infos = list_models()
    if args.json:
        print(json.dumps([{"name": m.name, "path": str(m.path), "meta": asdict(m.meta)} for m in infos], indent=1))
        return 0
    if not infos:
        print("no models found (set FAV_MODEL_PATH or put .safetensors models in the user model folder)")
        return 0
    width = max(len(m.name) for m in infos)
    for m in infos:
        meta = m.meta
        print(f"{m.name:<{width}}  {meta.kind:<5}  in={meta.in_channels}  style={meta.style_name}  "
              f"arch={meta.arch}  fill={meta.fill}  {m.path}")
    return 0
