"""Entry point of ``fav``: builds the sub-command parsers and turns typed errors into one-line messages.

Core sub-commands are listed in ``CORE_COMMANDS``; packages that depend on the core (``training``, the GUI) add
theirs through the ``fav.commands`` entry-point group, so the dependency arrows keep pointing into the core.
"""
from __future__ import annotations

import argparse
import logging
import sys
from importlib import import_module
from importlib.metadata import entry_points

from fav_core.errors import Cancelled, FavError

CORE_COMMANDS = (
    "fav_core.cli.stylize",
    "fav_core.cli.stylize_360",
    "fav_core.cli.flow",
    "fav_core.cli.models",
    "fav_core.cli.evaluate",
    "fav_core.cli.compare",
    "fav_core.cli.import_t7",
    "fav_core.cli.farm",
)

EXIT_ERROR = 2
EXIT_CANCELLED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fav",
        description="Temporally consistent neural style transfer for video (Ruder, Dosovitskiy & Brox 2018).",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in CORE_COMMANDS:
        try:
            module = import_module(name)
        except ModuleNotFoundError as exc:  # a sub-command that is not built yet must not break the others
            if exc.name != name:
                raise
            continue
        module.add_parser(sub)
    for ep in entry_points(group="fav.commands"):
        ep.load()(sub)
    return parser


def console() -> int:
    """The ``fav`` console script and ``python -m fav_core.cli``: tune this process's allocator for big CPU
    tensors (fav_core.process_memory; only here, never when a host imports the CLI in-process), then run."""
    from fav_core.process_memory import tune_process

    tune_process()
    return main()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="fav: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except Cancelled as exc:
        print(f"fav: cancelled: {exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        print("fav: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except FavError as exc:
        print(f"fav: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
