"""``fav flow INPUT -o DIR``: precompute flows and reliability maps with the reference's file names.

For every adjacent pair (j = i-1, i) it writes ``forward_j_i.flo`` (j → i), ``backward_i_j.flo`` (i → j),
``reliable_i_j.pgm`` (reliability of frame i for the backward flow, structure term from frame i) and
``reliable_j_i.pgm``, exactly the names of the reference's makeOptFlow scripts, so ``fav stylize --flow files
--flow-pattern DIR/backward_[%d]_{%d}.flo --occlusions-pattern DIR/reliable_[%d]_{%d}.pgm`` reuses them
(``forward_[%d]_{%d}.flo`` with ``--backward``). Existing files are kept (the job resumes).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from fav_core.errors import ConfigError, OutputError

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("flow", help="precompute .flo flows and .pgm reliability maps for a clip",
                       description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("input", help="video file, printf pattern or folder of numbered images")
    p.add_argument("-o", "--output", required=True, help="folder for the .flo/.pgm files")
    p.add_argument("--method", choices=("dis", "deepflow", "raft"), default="dis", help="flow method (default dis)")
    p.add_argument("--preset", choices=("ultrafast", "fast", "medium"), default="medium",
                   help="DIS preset (default medium)")
    p.add_argument("--raft-weights", default=None, help="local RAFT weights (with --method raft)")
    p.add_argument("--no-structure-term", action="store_true",
                   help="consistency check without the image structure term (as the training-set maps)")
    p.add_argument("--colorspace", choices=("auto", "srgb", "linear"), default="auto")
    p.add_argument("--progress", choices=("bar", "json", "none"), default="bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fav_core.cli.progress import make_reporter
    from fav_core.io import open_frames

    source = open_frames(args.input, colorspace=args.colorspace)
    provider = make_flow_provider(args.method, args.preset, args.raft_weights)  # before the folder is made
    out = Path(args.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(out, f"cannot create the output folder ({exc.strerror or exc})") from exc
    indices = sorted(source.indices)
    pairs = list(zip(indices[:-1], indices[1:], strict=True))
    if not pairs:
        log.warning("%s has a single frame: there is no frame pair to compute a flow for; nothing written",
                    args.input)
    reporter = make_reporter(args.progress, desc="flow") if args.progress != "none" else None
    if reporter:
        reporter.start(len(pairs), output=str(out))
    prev = source.read(indices[0]) if indices else None
    for n, (_j, i) in enumerate(pairs):
        cur = source.read(i)
        bwd_p = write_pair(provider, out, prev, cur, structure_term=not args.no_structure_term)
        if reporter:
            reporter.frame(n + 1, len(pairs), i, str(bwd_p))
        prev = cur
    if reporter:
        reporter.event("done", written=len(pairs), output=str(out))
        reporter.close()
    return 0


def make_flow_provider(method: str, preset: str = "medium", raft_weights: str | None = None) -> Any:
    """The provider for ``--method`` (``dis`` with ``preset``, ``raft`` with local weights, ``deepflow``).

    Raises:
        ConfigError: ``raft`` without a weights file, or RAFT's optional dependency missing.
    """
    from fav_core.flow import make_provider

    if method == "dis":
        return make_provider("dis", preset=preset)
    if method == "raft":
        if not raft_weights:
            raise ConfigError("--method raft needs --raft-weights PATH (weights are never downloaded)")
        return make_provider("raft", weights_path=raft_weights)
    return make_provider("deepflow")


def pair_paths(out: Path, j: int, i: int) -> tuple[Path, Path, Path, Path]:
    """The reference's file names for the pair (j = i-1, i): forward j→i, backward i→j, reliable_i_j, reliable_j_i."""
    return (out / f"forward_{j}_{i}.flo", out / f"backward_{i}_{j}.flo",
            out / f"reliable_{i}_{j}.pgm", out / f"reliable_{j}_{i}.pgm")


def _check_kept(size: tuple[int, int], paths: tuple[Path, ...]) -> None:
    """Files kept from an earlier run must be of this clip's frame size (a folder reused for another clip kept
    its flows, and the job reported success).

    Raises:
        OutputError: a kept file has another size. FlowFormatError: a kept file is malformed.
    """
    from fav_core.flow.io import read_flo_header
    from fav_core.pgm import read_pgm_header

    for p in paths:
        got = read_flo_header(p) if p.suffix == ".flo" else read_pgm_header(p)
        if tuple(got) != tuple(size):
            raise OutputError(p, f"left by another clip ({got[1]}x{got[0]}, the frames are {size[1]}x{size[0]}); "
                              "remove the folder's .flo/.pgm files or choose another -o")


def write_pair(provider: Any, out: Path, prev: Any, cur: Any, *, structure_term: bool = True) -> Path:
    """Compute and write both flows and reliability maps of one frame pair, unless all four files exist.

    Shared by ``fav flow`` and ``fav farm``; every file is written atomically, so a killed or retried job
    never leaves a partial file and re-running it is idempotent.

    Args:
        provider: a :class:`~fav_core.flow.FlowProvider` (``compute(src, dst)`` -> (H, W, 2) flow src → dst).
        out: folder for the files.
        prev, cur: the frames j and i (:class:`~fav_core.types.Frame`, ``rgb`` (H, W, 3) float32).
        structure_term: use the image structure term in the consistency check.

    Returns:
        The backward flow's path (i → j).
    """
    from fav_core.flow import write_flo
    from fav_core.occlusion import consistency_check, write_pgm

    j, i = prev.index, cur.index
    fwd_p, bwd_p, rel_i, rel_j = pair_paths(out, j, i)
    if all(p.exists() for p in (fwd_p, bwd_p, rel_i, rel_j)):
        _check_kept(cur.rgb.shape[:2], (fwd_p, bwd_p, rel_i, rel_j))
    else:
        fwd = provider.compute(prev.rgb, cur.rgb)  # j → i
        bwd = provider.compute(cur.rgb, prev.rgb)  # i → j
        img_i = cur.rgb * 255.0 if structure_term else None
        img_j = prev.rgb * 255.0 if structure_term else None
        write_flo(fwd_p, fwd)
        write_flo(bwd_p, bwd)
        write_pgm(rel_i, consistency_check(bwd, fwd, img_i))
        write_pgm(rel_j, consistency_check(fwd, bwd, img_j))
    return bwd_p
