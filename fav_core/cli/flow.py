"""``fav flow INPUT -o DIR``: precompute flows and reliability maps with the reference's file names.

For every adjacent pair (j = i-1, i) it writes ``forward_j_i.flo`` (j → i), ``backward_i_j.flo`` (i → j),
``reliable_i_j.pgm`` (reliability of frame i for the backward flow, structure term from frame i) and
``reliable_j_i.pgm``, exactly the names of the reference's makeOptFlow scripts, so ``fav stylize --flow files
--flow-pattern DIR/backward_[%d]_{%d}.flo --occlusions-pattern DIR/reliable_[%d]_{%d}.pgm`` reuses them
(``forward_[%d]_{%d}.flo`` with ``--backward``). Existing files are kept (the job resumes).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from fav_core.errors import OutputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("flow", help="precompute .flo flows and .pgm reliability maps for a clip",
                       description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("input", help="video file, printf pattern or folder of numbered images")
    p.add_argument("-o", "--output", required=True, help="folder for the .flo/.pgm files")
    p.add_argument("--method", choices=("dis", "deepflow", "raft"), default="dis")
    p.add_argument("--preset", choices=("ultrafast", "fast", "medium"), default="medium", help="DIS preset")
    p.add_argument("--raft-weights", default=None, help="local RAFT weights (with --method raft)")
    p.add_argument("--no-structure-term", action="store_true",
                   help="consistency check without the image structure term (as the training-set maps)")
    p.add_argument("--colorspace", choices=("auto", "srgb", "linear"), default="auto")
    p.add_argument("--progress", choices=("bar", "json", "none"), default="bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fav_core.cli.progress import make_reporter
    from fav_core.flow import make_provider, write_flo
    from fav_core.io import open_frames
    from fav_core.occlusion import consistency_check, write_pgm

    source = open_frames(args.input, colorspace=args.colorspace)
    out = Path(args.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(out, f"cannot create the output folder ({exc.strerror or exc})") from exc
    if args.method == "dis":
        provider = make_provider("dis", preset=args.preset)
    elif args.method == "raft":
        provider = make_provider("raft", weights_path=args.raft_weights)
    else:
        provider = make_provider("deepflow")
    indices = sorted(source.indices)
    pairs = list(zip(indices[:-1], indices[1:], strict=True))
    reporter = make_reporter(args.progress, desc="flow") if args.progress != "none" else None
    if reporter:
        reporter.start(len(pairs), output=str(out))
    prev = source.read(indices[0]) if indices else None
    for n, (j, i) in enumerate(pairs):
        cur = source.read(i)
        fwd_p, bwd_p = out / f"forward_{j}_{i}.flo", out / f"backward_{i}_{j}.flo"
        rel_i, rel_j = out / f"reliable_{i}_{j}.pgm", out / f"reliable_{j}_{i}.pgm"
        if not all(p.exists() for p in (fwd_p, bwd_p, rel_i, rel_j)):
            fwd = provider.compute(prev.rgb, cur.rgb)  # j → i
            bwd = provider.compute(cur.rgb, prev.rgb)  # i → j
            img_i = None if args.no_structure_term else cur.rgb * 255.0
            img_j = None if args.no_structure_term else prev.rgb * 255.0
            write_flo(fwd_p, fwd)
            write_flo(bwd_p, bwd)
            write_pgm(rel_i, consistency_check(bwd, fwd, img_i))
            write_pgm(rel_j, consistency_check(fwd, bwd, img_j))
        if reporter:
            reporter.frame(n + 1, len(pairs), i, str(bwd_p))
        prev = cur
    if reporter:
        reporter.event("done", written=len(pairs), output=str(out))
        reporter.close()
    return 0
